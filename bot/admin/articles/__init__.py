"""The knowledge base's articles in the staff area: the list, the editor (form.py),
the pages that save or change an article (handlers.py) and its history (history.py)."""
