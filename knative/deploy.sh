#!/usr/bin/env bash
# Deploy knargo into a cluster that runs Knative Serving and Eventing, Argo Workflows and
# Argo Events: `kn` for the Knative objects, `kubectl apply` for everything else, from the
# manifests beside this script (the same ones `kubectl apply -k knative/` applies).
#
# Idempotent: run it again after any change (images, configuration, catalog, credentials);
# it converges and rolls the functions when their configuration changed. docs/deploy.md walks
# through it. tests/test_deploy_script.py keeps the --dry-run output as a golden file.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: knative/deploy.sh [options]

  -n, --namespace NS           namespace of the functions, Broker and Argo Events objects
                               (default: knargo)
      --pipeline-namespace NS  namespace of the Workflows (default: ci; written into the
                               configuration too). Argo Workflows must manage it.
      --registry REGISTRY      where the images are (default: ghcr.io/example); images are
                               REGISTRY/knargo-webhook, -generate and -report
      --tag TAG                image tag (default: 0.1.0)
      --credentials DIR        set the knargo-credentials Secret from DIR, one file per key
                               (github.webhook-secret, github.token, ...); keys no longer in
                               DIR are removed. Without it the Secret must exist already.
      --dry-run                print every command instead of running it; changes nothing
  -h, --help                   this text

Needs kn and kubectl on PATH, and a kubeconfig context allowed to create namespaces, RBAC,
Knative, Argo Events and core objects.
EOF
}

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

NAMESPACE=knargo
PIPELINE_NAMESPACE=ci
REGISTRY=ghcr.io/example
TAG=0.1.0
CREDENTIALS=
DRY_RUN=0

while [[ $# -gt 0 ]]; do
  case $1 in
    -n | --namespace) NAMESPACE=${2:?--namespace needs a value}; shift 2 ;;
    --pipeline-namespace) PIPELINE_NAMESPACE=${2:?--pipeline-namespace needs a value}; shift 2 ;;
    --registry) REGISTRY=${2:?--registry needs a value}; shift 2 ;;
    --tag) TAG=${2:?--tag needs a value}; shift 2 ;;
    --credentials) CREDENTIALS=${2:?--credentials needs a directory}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

dns_label='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
[[ $NAMESPACE =~ $dns_label ]] || die "--namespace: '$NAMESPACE' is not a valid namespace name"
[[ $PIPELINE_NAMESPACE =~ $dns_label ]] ||
  die "--pipeline-namespace: '$PIPELINE_NAMESPACE' is not a valid namespace name"
[[ $REGISTRY =~ ^[A-Za-z0-9][A-Za-z0-9._:/-]*$ ]] || die "--registry: '$REGISTRY' is not a registry"
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag: '$TAG' is not an image tag"
if [[ -n $CREDENTIALS ]]; then
  [[ -d $CREDENTIALS ]] || die "--credentials: '$CREDENTIALS' is not a directory"
  CREDENTIALS=$(cd "$CREDENTIALS" && pwd)
fi

# Work from the repository root so every path below reads knative/<file>.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BROKER=knargo
DELIVERY=knative/patches/delivery.yaml
# Trigger name, event type (shared/knargo/contract/events.py), subscriber: as in knative/triggers.yaml.
TRIGGERS=(
  "generate-git-push dev.knargo.git.push generate"
  "generate-git-pull-request dev.knargo.git.pull_request generate"
  "generate-git-comment dev.knargo.git.comment generate"
  "report-pipeline-submitted dev.knargo.pipeline.submitted report"
  "report-pipeline-rejected dev.knargo.pipeline.rejected report"
  "report-pipeline-skipped dev.knargo.pipeline.skipped report"
  "report-workflow-updated dev.knargo.workflow.updated report"
)

# --- printing and running -------------------------------------------------------------------

# A command as a shell would read it back: plain words bare, anything else single-quoted.
quote() {
  local word out=()
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      out+=("$word")
    else
      out+=("'${word//\'/\'\\\'\'}'")
    fi
  done
  echo "${out[*]}"
}

# Run a command, or print it in --dry-run.
run() {
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(quote "$@")"
  else
    echo "+ $(quote "$@")" >&2
    "$@"
  fi
}

step() {
  echo
  echo "## $*"
}

# --- namespaces other than knargo and ci ----------------------------------------------------

# The manifests name their namespaces; other names are substituted on the way to kubectl.
# (kn takes -n and overrides the namespace of the Service files itself.)
RENAME=()
if [[ $NAMESPACE != knargo ]]; then
  RENAME+=(-e "s/namespace: knargo\$/namespace: $NAMESPACE/"
    -e "s#svc.cluster.local/knargo/#svc.cluster.local/$NAMESPACE/#"
    -e "s#argo-events/knargo/#argo-events/$NAMESPACE/#")
fi
if [[ $PIPELINE_NAMESPACE != ci ]]; then
  RENAME+=(-e "s/namespace: ci\$/namespace: $PIPELINE_NAMESPACE/")
fi

# kubectl apply|create -f FILE, through sed when namespaces are renamed.
kubectl_file() {
  local verb=$1 file=knative/$2 names=()
  if [[ ${#RENAME[@]} == 0 ]]; then
    run kubectl "$verb" -f "$file"
    return
  fi
  if [[ $2 == namespaces.yaml ]]; then
    names=(-e "s/^  name: knargo\$/  name: $NAMESPACE/"
      -e "s/^  name: ci\$/  name: $PIPELINE_NAMESPACE/")
  fi
  # (${names[@]+...}: an empty array is "unbound" to bash 3.2's set -u, macOS's bash.)
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(quote sed "${RENAME[@]}" ${names[@]+"${names[@]}"} "$file") | kubectl $verb -f -"
  else
    echo "+ sed ... $file | kubectl $verb -f -" >&2
    sed "${RENAME[@]}" ${names[@]+"${names[@]}"} "$file" | kubectl "$verb" -f -
  fi
}

apply() {
  kubectl_file apply "$1"
}

# --- 1. tools and CRDs ------------------------------------------------------------------------

CRDS=(
  "services.serving.knative.dev Knative Serving"
  "brokers.eventing.knative.dev Knative Eventing"
  "triggers.eventing.knative.dev Knative Eventing"
  "sinkbindings.sources.knative.dev Knative Eventing"
  "workflows.argoproj.io Argo Workflows"
  "cronworkflows.argoproj.io Argo Workflows"
  "workflowtaskresults.argoproj.io Argo Workflows"
  "eventbus.argoproj.io Argo Events"
  "eventsources.argoproj.io Argo Events"
  "sensors.argoproj.io Argo Events"
)
# The Broker's channel, as knative/broker-channel.yaml names it (InMemoryChannel, KafkaChannel).
channel_kind=$(sed -n 's/^ *kind: \([A-Za-z]*Channel\)$/\1/p' knative/broker-channel.yaml |
  head -n 1)
channel_kind=${channel_kind:-InMemoryChannel}
channel_crd="$(echo "$channel_kind" | tr '[:upper:]' '[:lower:]')s.messaging.knative.dev"
CRDS+=("$channel_crd the $channel_kind channel")

check_prerequisites() {
  local entry crd missing=()
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ command -v kn kubectl"
    for entry in "${CRDS[@]}"; do
      echo "+ kubectl get customresourcedefinition ${entry%% *}"
    done
    return
  fi
  command -v kn >/dev/null ||
    missing+=("kn (the Knative CLI: https://knative.dev/docs/client/install-kn/)")
  command -v kubectl >/dev/null ||
    missing+=("kubectl (https://kubernetes.io/docs/tasks/tools/)")
  if [[ ${#missing[@]} == 0 ]]; then
    for entry in "${CRDS[@]}"; do
      crd=${entry%% *}
      kubectl get customresourcedefinition "$crd" >/dev/null 2>&1 ||
        missing+=("CRD $crd: install ${entry#* }")
    done
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    printf 'deploy.sh: missing:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "See \"Prerequisites\" in docs/deploy.md." >&2
    exit 1
  fi
  echo "kn, kubectl and every CRD are there."
}

# --- 2. credentials -------------------------------------------------------------------------

set_credentials() {
  local create=(kubectl create secret generic knargo-credentials -n "$NAMESPACE"
    "--from-file=$CREDENTIALS" --dry-run=client -o yaml)
  local apply=(kubectl apply --server-side --field-manager=knargo-credentials -f -)
  # Values travel from the files to the API server through the pipe; none is printed.
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(quote "${create[@]}") | $(quote "${apply[@]}")"
  else
    echo "+ $(quote "${create[@]}") | $(quote "${apply[@]}")" >&2
    "${create[@]}" | "${apply[@]}"
  fi
}

# The catalog is created once; then `knargo secrets` owns it (docs/admin.md): never apply it.
create_catalog() {
  if [[ $DRY_RUN == 1 ]]; then
    kubectl_file create secret-catalog.yaml | sed 's/$/   # skipped if it exists/'
  elif kubectl get configmap knargo-secret-catalog -n "$NAMESPACE" >/dev/null 2>&1; then
    echo "The secret catalog exists; knargo secrets manages it."
  else
    kubectl_file create secret-catalog.yaml
  fi
}

# What the functions read at start-up, as the cluster has it now (the script prints or runs
# these reads; their output feeds the digest below).
CATALOG_DATA=
CREDENTIALS_DATA=
read_state() {
  local catalog=(kubectl get configmap knargo-secret-catalog -n "$NAMESPACE" -o 'jsonpath={.data}')
  local credentials=(kubectl get secret knargo-credentials -n "$NAMESPACE" -o 'jsonpath={.data}')
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(quote "${catalog[@]}")"
    echo "+ $(quote "${credentials[@]}")"
    return
  fi
  CATALOG_DATA=$("${catalog[@]}")
  CREDENTIALS_DATA=$("${credentials[@]}")
  [[ -n $CREDENTIALS_DATA && $CREDENTIALS_DATA != "{}" ]] ||
    die "the Secret knargo-credentials in $NAMESPACE holds no values: pass --credentials DIR" \
      "(see \"Credentials\" in docs/deploy.md)"
}

# A digest of what a function reads at start-up (the configuration as applied, the
# credentials, and for generate the catalog), set as a revision annotation: when one of them
# changed, the function gets a new revision, which reads them afresh; a run that changes
# nothing leaves the revisions alone. Credential values only enter the hash, like the checksum
# annotations of Helm charts.
config_digest() {
  local read_catalog=
  if [[ $DRY_RUN == 1 ]]; then
    echo "<digest>"
    return
  fi
  if [[ $1 == generate ]]; then
    read_catalog=$CATALOG_DATA
  fi
  printf '%s\n' "$NAMESPACE $PIPELINE_NAMESPACE" "$(cat knative/config.yaml)" "$read_catalog" \
    "$CREDENTIALS_DATA" |
    sha256 | cut -c 1-16
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi
}

# --- 3. Knative objects with kn -------------------------------------------------------------

# kn <group> create NAME ARGS, or kn <group> update NAME ARGS when it exists already.
create_or_update() {
  local group=$1 name=$2
  shift 2
  local create_args=("$@") update_args=() skip=0 arg
  for arg in "$@"; do # update cannot move a Trigger to another Broker
    if [[ $skip == 1 ]]; then skip=0; continue; fi
    if [[ $arg == --broker ]]; then skip=1; continue; fi
    update_args+=("$arg")
  done
  # shellcheck disable=SC2086 # $group is "trigger" or "source binding": two words on purpose
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(quote kn $group create "$name" "${create_args[@]}")   # update if it exists"
  elif kn $group describe "$name" -n "$NAMESPACE" >/dev/null 2>&1; then
    run kn $group update "$name" "${update_args[@]}"
  else
    run kn $group create "$name" "${create_args[@]}"
  fi
}

create_broker() {
  local args=(kn broker create "$BROKER" -n "$NAMESPACE" --class MTChannelBasedBroker
    --broker-config cm:knargo-broker-channel)
  # A Broker's class and config are fixed at creation: create it once, never update it.
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(quote "${args[@]}")   # skipped if it exists"
  elif kn broker describe "$BROKER" -n "$NAMESPACE" >/dev/null 2>&1; then
    echo "Broker $BROKER exists."
  else
    run "${args[@]}"
  fi
  run kubectl patch brokers.eventing.knative.dev "$BROKER" -n "$NAMESPACE" --type merge \
    --patch-file "$DELIVERY"
}

apply_service() {
  local function=$1
  run kn service apply "$function" -n "$NAMESPACE" -f "knative/$function.yaml" \
    --image "$REGISTRY/knargo-$function:$TAG" \
    --annotation-revision "knargo.dev/config-digest=$(config_digest "$function")"
}

# --- the run --------------------------------------------------------------------------------

echo "# knargo: functions in namespace $NAMESPACE, pipelines in $PIPELINE_NAMESPACE," \
  "images $REGISTRY/knargo-<function>:$TAG"
if [[ $DRY_RUN == 1 ]]; then
  echo "# --dry-run: nothing is changed; these are the commands a run would execute."
fi

step "1. kn, kubectl and the CRDs"
check_prerequisites

step "2. Namespaces, configuration, catalog, credentials and RBAC (kubectl)"
apply namespaces.yaml
apply config.yaml
create_catalog
apply credentials.yaml
apply artifact-repositories.yaml
if [[ -n $CREDENTIALS ]]; then
  set_credentials
fi
read_state
apply rbac.yaml

step "3. Broker, with retries and report's /dead-letter as dead-letter sink (kn, kubectl)"
apply broker-channel.yaml
create_broker

step "4. SinkBinding: webhook's K_SINK is the Broker (kn)"
create_or_update "source binding" webhook-broker -n "$NAMESPACE" \
  --subject Service:serving.knative.dev/v1:webhook --sink "broker:$BROKER"

step "5. Services (kn): report and generate scale to zero, webhook stays warm"
if [[ $DRY_RUN == 1 ]]; then
  echo "# <digest>: of the configuration, credentials and (generate) catalog read in step 2;"
  echo "# it changes, and the function restarts, only when one of them did."
fi
apply_service report
apply_service generate
apply_service webhook

step "6. Triggers (kn) and their delivery, which kn cannot set (kubectl)"
for entry in "${TRIGGERS[@]}"; do
  read -r name event_type subscriber <<<"$entry"
  create_or_update trigger "$name" -n "$NAMESPACE" --broker "$BROKER" \
    --filter "type=$event_type" --sink "ksvc:$subscriber"
  run kubectl patch triggers.eventing.knative.dev "$name" -n "$NAMESPACE" --type merge \
    --patch-file "$DELIVERY"
done

step "7. Argo Events: Workflow changes to the Broker (kubectl)"
apply eventbus.yaml
apply eventsource.yaml
apply sensor.yaml

step "8. The webhook URL to give your forges"
if [[ $DRY_RUN == 1 ]]; then
  run kn service describe webhook -n "$NAMESPACE" -o url
else
  echo "Webhook URL: $(kn service describe webhook -n "$NAMESPACE" -o url)"
  echo "Next: point each forge's webhook at it (docs/deploy.md, \"Connect a forge\")."
fi
