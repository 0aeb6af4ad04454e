"""knargo: GitOps CI/CD for Kubernetes, from ci.yaml to Argo Workflows."""

__version__ = "0.1.0"
