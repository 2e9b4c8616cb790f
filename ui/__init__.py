"""Streamlit building blocks shared by app.py and pages/: the shell, charts and formatting."""
