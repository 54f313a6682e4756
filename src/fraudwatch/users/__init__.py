"""Users of the dashboard and the API: roles, passwords, a second factor, sessions."""
