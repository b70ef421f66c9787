"""Sharing through DVC: dvc.yaml from the Snakemake DAG, and pulls Snakemake trusts."""
