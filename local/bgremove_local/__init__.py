"""Run the S3 pipeline locally on an embedded AWS emulator (moto server), reading template.yaml."""
