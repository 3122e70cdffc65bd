"""The supervision domain: its rules, the deadlines they set, and the decisions it records."""
