"""tripsearch: semantic search and question answering over conference trip reports."""
