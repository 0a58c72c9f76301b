"""Downloads: the overlay as an annotated PNG, the report as PDF and Markdown, a case's figures as JSON.

Each takes arrays and records already computed and returns bytes; nothing here reads a page or the library.
"""
