"""The national model: what the ministry counts about cases, agencies and complaints."""
