"""The review page: the review queue and sign-off in the browser (`precex serve`).

users: the users file (`precex users add`, argon2id hashes); sessions: server-side sessions
with a CSRF token each; login_log: the log of logins and failed logins, and the throttle;
app: the Starlette application (Jinja templates in templates/).
"""
