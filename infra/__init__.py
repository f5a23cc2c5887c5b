"""Deployment as code: Cloud Scheduler jobs, the deploy bundle, HubSpot portal provisioning."""
