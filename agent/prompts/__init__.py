"""Prompt templates of the LLM stage, shipped as package data."""
