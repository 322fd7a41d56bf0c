"""Ingestion: loaders, cleaning and redaction, chunking, incremental sync into the KB."""
