"""Packaging beyond `pyproject.toml`: the label sets, presets and model-card template stay in the repository's
top-level `configuration/` and `hub_cards/` folders and ship inside the package, as `modeling_msqnet/configuration/`
and `modeling_msqnet/hub_cards/` (found by `modeling_msqnet.resources.resource_path`); their
file patterns are in pyproject.toml."""

from setuptools import find_packages, setup


RESOURCE_PACKAGES = {"modeling_msqnet.configuration": "configuration", "modeling_msqnet.hub_cards": "hub_cards"}

setup(
    packages=find_packages(include=["modeling_msqnet", "modeling_msqnet.*"]) + list(RESOURCE_PACKAGES),
    package_dir=RESOURCE_PACKAGES,
)
