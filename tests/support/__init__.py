"""Helpers the tests import: moto, Podman, browsers, test repositories, API calls; no tests."""
