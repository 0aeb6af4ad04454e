"""The tail of a job's log: bounded, with every secret value masked, also where a cut or a
multi-line value splits it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from knargo.functions.logtail import MASK, masked_tail, pod_name
from knargo.io.kube import Cluster
from kubefake import TOKEN, running_kube

AUTH = {"authorization": f"Bearer {TOKEN}"}

TOKEN = "s3cr3t-T0ken-value"
KEY = (
    "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----"
)


def test_a_secret_in_plain_and_split_forms_is_masked_everywhere() -> None:
    log = "\n".join(
        [
            *(f"step {i}" for i in range(300)),
            f"export TOKEN={TOKEN}",  # plain
            f"curl -H 'Authorization: Bearer {TOKEN}' https://x",  # plain, twice on a line
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",  # a line of a multi-line value, on its own
            f"key: {KEY}",  # the whole multi-line value
            f"cut at the end: {TOKEN[:9]}",  # the API server's byte limit cut the value
        ]
    )
    tail = masked_tail(log, [TOKEN, KEY], cut_at_end=True)
    assert TOKEN not in tail and TOKEN[:9] not in tail
    assert "MIIEvQ" not in tail and "BKcwgg" not in tail
    assert f"export TOKEN={MASK}" in tail
    assert tail.endswith(f"cut at the end: {MASK}")
    assert len(tail.splitlines()) == 200
    assert tail.splitlines()[0] == "step 105"


def test_a_multi_line_value_cut_by_the_line_limit_keeps_its_lines_masked() -> None:
    # The API server's last lines start inside the value: its whole text is not there.
    log = "\n".join([*KEY.splitlines()[1:], "done"])
    tail = masked_tail(log, [KEY])
    assert tail.splitlines() == [MASK, MASK, MASK, "done"]


def test_the_byte_bound_starts_on_a_whole_line() -> None:
    log = "\n".join(f"{i:04d} " + "x" * 95 for i in range(200))
    tail = masked_tail(log, [], max_bytes=1000)
    assert len(tail.encode()) <= 1000
    assert all(len(line) == 100 for line in tail.splitlines())
    assert tail.splitlines()[-1].startswith("0199 ")


@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=4, max_size=40),
    before=st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)),
    lines=st.integers(1, 20),
    size=st.integers(50, 2000),
    cut=st.integers(0, 39),
)
def test_no_bounds_leave_a_secret_or_its_cut_start(
    secret: str, before: list[str], lines: int, size: int, cut: int
) -> None:
    log = "\n".join([*before, f"value {secret} here", f"cut {secret[: max(1, cut)]}"])
    tail = masked_tail(log, [secret], cut_at_end=True, max_lines=lines, max_bytes=size)
    assert secret not in tail
    assert not tail.endswith(secret[: max(1, cut)]) or MASK.endswith(secret[: max(1, cut)])
    assert len(tail.encode()) <= size and len(tail.splitlines()) <= lines


def test_pods_are_named_as_argo_names_them() -> None:
    # FNV-1a 32 of "hello" is 1335831723 (argo-workflows' own test of createFNVHash).
    assert pod_name("wf", {"name": "hello", "templateName": "build"}) == "wf-build-1335831723"
    assert pod_name("wf", {"name": "wf", "templateName": "t"}) == "wf"
    assert pod_name("wf", {"id": "wf-123", "name": "wf.b"}) == "wf-123"  # v1: the node id


def test_the_api_servers_pod_log_as_report_reads_it(tmp_path: Path) -> None:
    with running_kube() as kube:
        cluster = Cluster.from_kubeconfig(str(kube.kubeconfig(tmp_path)), None, {})
        try:
            log = "".join(f"line {i}\n" for i in range(500))
            kube.put_pod_log("ci", "wf-test-1", {"init": "", "main": log, "wait": "x\n"})
            assert (
                cluster.pod_log("ci", "wf-test-1", "main", 200, 10**6)
                == "".join(log.splitlines(True)[-200:]).encode()
            )
            assert cluster.pod_log("ci", "wf-test-1", "main", 200, 5) == b"line "
            assert cluster.pod_log("ci", "wf-gone", "main", 200, 100) is None  # 404
            assert cluster.pod_log("ci", "wf-test-1", "nope", 200, 100) is None  # 400
            kube.forbid("get", "pods/log")
            assert cluster.pod_log("ci", "wf-test-1", "main", 200, 100) is None  # 403
        finally:
            cluster.close()
        codes = [(r.path.rsplit("/", 2)[-2], r.query.get("container")) for r in kube.requests]
        assert codes[0] == ("wf-test-1", "main")
        refused = kube.handle("GET", "/api/v1/namespaces/ci/pods/wf-test-1/log", AUTH, b"")
        assert refused[0] == 403
        kube._forbidden.clear()
        for query, message in [
            ("", "a container name must be specified for pod wf-test-1"),
            ("?container=main&tailLines=-1", "tailLines: Invalid value: -1"),
            ("?container=main&limitBytes=0", "limitBytes: Invalid value: 0"),
        ]:
            path = f"/api/v1/namespaces/ci/pods/wf-test-1/log{query}"
            code, body, _ = kube.handle("GET", path, AUTH, b"")
            assert code == 400 and message in body["message"]


def test_a_text_cut_at_its_start_hides_the_end_of_a_value_there() -> None:
    tail = masked_tail(f"{TOKEN[5:]} and more\nnext", [TOKEN], cut_at_start=True)
    assert tail == f"{MASK} and more\nnext"
