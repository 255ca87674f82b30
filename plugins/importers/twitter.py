"""The `twitter` importer: one task per tweet of a recent search on Twitter/X.

Uses the API v2 recent search (`importer.twitter.api_url`, tweets/search/recent) with the
server's `importer.twitter.bearer_token`. `source` is a search query, or `@account` for that
account's tweets; retweets are left out. Up to `max_tweets` (default 200) tweets; each gives
`info` = the tweet as the API returns it plus `user_screen_name`, its author's @name.
"""

from collections.abc import Iterator

from core.hookspecs import hookimpl
from core.inputs import ascii_digits
from core.services.importer import ImporterError, ImportField, api_url, fetch_json, setting

SERVICE = "Twitter"
DEFAULT_MAX = 200
TWEET_FIELDS = "created_at,author_id,lang,conversation_id,public_metrics,entities,attachments"


def search_query(source: str | None) -> str:
    source = (source or "").strip()
    if not source:
        raise ImporterError("Please give a search or an @account.", "source")
    if source.startswith("@") and " " not in source:
        source = f"from:{source[1:]}"
    return f"{source} -is:retweet"


def max_tweets(text) -> int:
    text = str(text or "").strip()
    if not text:
        return DEFAULT_MAX
    if not ascii_digits(text) or int(text) < 1:
        raise ImporterError("The number of tweets must be a whole number above 0.", "max_tweets")
    return int(text)


class TwitterImporter:
    """Tasks from the tweets of a recent search."""

    name = "twitter"
    title = "Twitter / X search"
    description = "One task per tweet of the last seven days matching a search or an @account."
    fields = (
        ImportField("source", "Search or @account", "text", "E.g. #birds or @nasa."),
        ImportField("max_tweets", "At most", "text", f"Tweets to import (default {DEFAULT_MAX})."),
    )

    def records(self, values: dict, settings: dict) -> Iterator[dict]:
        query = search_query(values.get("source"))
        wanted = max_tweets(values.get("max_tweets"))
        token = setting(settings, "importer.twitter.bearer_token", SERVICE, "source")
        headers = {"Authorization": f"Bearer {token}"}
        next_token, done = None, 0
        while done < wanted:
            url = api_url(
                settings["importer.twitter.api_url"],
                "tweets/search/recent",
                query=query,
                # The API serves 10 to 100 tweets a page.
                max_results=max(10, min(100, wanted - done)),
                next_token=next_token,
                expansions="author_id",
                **{"tweet.fields": TWEET_FIELDS, "user.fields": "username"},
            )
            answer = fetch_json(url, settings, "source", SERVICE, headers)
            if not isinstance(answer, dict):
                raise ImporterError(f"{SERVICE} answered something unexpected.", "source")
            tweets = answer.get("data") or []
            users = (answer.get("includes") or {}).get("users") or []
            names = {
                user.get("id"): user.get("username") for user in users if isinstance(user, dict)
            }
            for tweet in tweets:
                if not isinstance(tweet, dict) or "id" not in tweet:
                    raise ImporterError(f"{SERVICE} answered a tweet without its id.", "source")
                yield {**tweet, "user_screen_name": names.get(tweet.get("author_id"), "")}
                done += 1
                if done >= wanted:
                    return
            next_token = (answer.get("meta") or {}).get("next_token")
            if not next_token or not tweets:
                return


@hookimpl
def crowdnest_settings():
    return {
        "importer.twitter.api_url": ("https://api.twitter.com/2/", str),
        "importer.twitter.bearer_token": ("", str),
    }


@hookimpl
def crowdnest_importers():
    return {"twitter": TwitterImporter()}
