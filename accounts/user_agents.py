"""Browser and operating system names from a User-Agent header, for the sessions list."""

from functools import lru_cache

from ua_parser import parse


@lru_cache(maxsize=1024)
def user_agent_describe(user_agent: str) -> tuple[str, str]:
    """("Firefox 133", "Ubuntu") — or "Unknown" for what cannot be told."""
    result = parse(user_agent).with_defaults()
    browser = result.user_agent.family
    if result.user_agent.major and browser != "Other":
        browser = f"{browser} {result.user_agent.major}"
    operating_system = result.os.family
    return (
        "Unknown" if browser == "Other" else browser,
        "Unknown" if operating_system == "Other" else operating_system,
    )
