"""Controller-side evidence: atomic files, JSON Schemas, verdicts recomputed from histories, reports."""
