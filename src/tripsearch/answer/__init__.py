"""Stage 6: answer questions from the passages, with citations, or say the reports do not."""
