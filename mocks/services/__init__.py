"""The mock services, one module each, looked up by name."""

import sys
from types import MappingProxyType, ModuleType

from mocks.config import ServiceConfig
from mocks.core.context import ServiceSpec
from mocks.errors import ConfigError
from mocks.services import (
    claims_api,
    crm,
    customer_api,
    fraud_detection,
    identity_verification,
    payment_api,
    payment_gateway,
    policy_api,
)

_SPECS = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            customer_api.SPEC,
            policy_api.SPEC,
            claims_api.SPEC,
            payment_api.SPEC,
            identity_verification.SPEC,
            crm.SPEC,
            payment_gateway.SPEC,
            fraud_detection.SPEC,
        )
    }
)


def service_names() -> tuple[str, ...]:
    return tuple(_SPECS)


def spec_module(name: str) -> ModuleType:
    """The module that defines the named service."""
    return sys.modules[_SPECS[name].routes.__module__]


def spec_for(config: ServiceConfig, source: str) -> ServiceSpec:
    """The spec of the configured service, checked against the config."""
    spec = _SPECS.get(config.service)
    if spec is None:
        raise ConfigError(
            f"{source}: field 'service' has value {config.service!r}; "
            f"accepted: {', '.join(_SPECS)}"
        )
    spec.check(config, source)
    return spec
