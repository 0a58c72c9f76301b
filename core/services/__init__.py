"""Services: the domain combined with the case library. Pages and both command lines call these; the domain and db/ never import them."""
