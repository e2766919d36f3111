"""Every endpoint the kit runs: the local ones on this machine, then SageMaker's (or why none are listed)."""

from __future__ import annotations

from ..errors import BadValue
from .endpoint import endpoints as local_endpoints


class SageMakerNote(str):
    """Why an endpoint listing holds no SageMaker endpoints (no credentials, no region, no SDK)."""


def sagemaker_endpoints(region: str | None = None) -> list:
    """The SageMaker endpoints the kit made in ``region``; when AWS is not set up, one ``SageMakerNote``
    saying why (a listing never fails for that)."""
    try:
        from .sagemaker import endpoints as made

        return made(region)
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return [SageMakerNote(f"SageMaker endpoints not listed: {first}")]


def all_endpoints(region: str | None = None) -> list:
    """Local endpoints, then SageMaker ones (or the note why there are none)."""
    return local_endpoints() + sagemaker_endpoints(region)


def endpoint_key(endpoint) -> str:
    """What names an endpoint to stop it: a local one's port, a SageMaker one's name."""
    return str(getattr(endpoint, "port", None) or endpoint.name)


def stop_endpoints(which: str, region: str | None = None) -> list:
    """Stop the local endpoint on port ``which``, or delete the SageMaker endpoint named ``which``
    ('all': every one). Returns the endpoints stopped."""
    found = [e for e in all_endpoints(region) if not isinstance(e, SageMakerNote)]
    chosen = found if which == "all" else [e for e in found if endpoint_key(e) == which]
    if not chosen:
        raise BadValue(f"--stop {which}: no such endpoint; running: "
                       f"{', '.join(endpoint_key(e) for e in found) or 'none'}")
    for endpoint in chosen:
        endpoint.stop()
    return chosen
