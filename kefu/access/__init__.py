"""Who may see and change what: tenant scope and the team subtree rule."""
