"""Provisioning of what a platform needs in the cloud (AWS): plan, apply, destroy."""
