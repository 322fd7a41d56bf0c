"""The prompts as Jinja files (*.j2), rendered by agent.prompts."""
