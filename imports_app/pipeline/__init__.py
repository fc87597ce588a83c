"""The import pipeline (contract 7.2-7.6): input assessment, the unified analysis workflow,
the ReportAnalysis conversion and the medical-imaging workflow. Model calls go through
mediqom.ai; progress goes to a callback (stage, progress, message)."""
