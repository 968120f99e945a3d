"""Verify use case: recompute a certificate from its evidence; re-execute a sample of it with the models."""
