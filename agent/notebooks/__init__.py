"""Jupyter notebooks: code cells converted as one program, cell structure kept."""
