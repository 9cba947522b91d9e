"""The PR bot: render a migrate report as one pull-request comment and post it to GitHub.

Only the standard library talks to GitHub (``urllib``), so the bot runs in any CI with the
package installed and nothing else.
"""

from agent.github.render import COMMENT_LIMIT, MARKER, render_comment

__all__ = ["COMMENT_LIMIT", "MARKER", "render_comment"]
