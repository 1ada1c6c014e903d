"""webstack toolkit: render, check, lint and smoke-test the webstack Helm chart."""
