"""Teaching rules: quiz modes and scoring, the shortcut answers, clicks on a map, and the class's figures."""
