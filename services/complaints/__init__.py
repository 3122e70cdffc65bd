"""The ministry's national supervision of complaints and callbacks: deadline clocks in working
days, escalation of overdue complaints, and the credit record of upheld complaints."""
