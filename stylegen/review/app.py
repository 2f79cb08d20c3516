"""The review web app (Flask, server-rendered Jinja templates, plain forms, no JavaScript).

Security: a random token is required on every request (``?token=`` once sets a cookie, as
Jupyter does); every POST carries a CSRF token (Flask-WTF); Jinja autoescapes all text;
the app writes only the run directory's ledger and report, and the approved-edits file.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from stylegen.errors import ConfigError
from stylegen.review.queue import AlreadyDecided, export_decisions, ReviewStore, StaleEdit, queue_view

COOKIE = "stylegen_review_token"


@dataclass
class ReviewOptions:
    """What ``stylegen review`` was started with."""

    run_dir: str
    host: str = "127.0.0.1"
    port: int = 8765
    reviewer: str = "reviewer"
    approved: str | None = None
    export: str | None = None


def create_app(store: ReviewStore, token: str | None = None, reviewer: str = "reviewer"):
    """The Flask app over ``store``; ``token`` (random when None) guards every request."""
    from flask import Flask
    from flask_wtf.csrf import CSRFProtect

    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"))
    app.config.update(SECRET_KEY=secrets.token_hex(32), REVIEW_TOKEN=token or secrets.token_urlsafe(24),
                      REVIEWER=reviewer, WTF_CSRF_TIME_LIMIT=None, SESSION_COOKIE_SAMESITE="Strict")
    _guard(app)  # before CSRF: a request without the token is refused before anything else
    CSRFProtect(app)
    app.extensions["review_store"] = store
    _routes(app, store)
    return app


def _guard(app) -> None:
    """Refuse every request without the token (query once, then the cookie)."""
    from flask import abort, request

    @app.before_request
    def _check_token():
        expected = app.config["REVIEW_TOKEN"]
        given = request.args.get("token") or request.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            abort(403, "a valid token is required (open the address stylegen review printed)")

    @app.after_request
    def _set_cookie(response):
        if request.args.get("token") == app.config["REVIEW_TOKEN"]:
            response.set_cookie(COOKIE, app.config["REVIEW_TOKEN"], httponly=True, samesite="Strict")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'self'; script-src 'none'"
        return response


def _routes(app, store: ReviewStore) -> None:
    from flask import abort, flash, redirect, render_template, request, url_for

    def reviewer() -> str:
        return (request.form.get("reviewer") or app.config["REVIEWER"]).strip()[:64] or "reviewer"

    @app.get("/")
    def queue():
        rule, field_, level = (request.args.get(k, "") for k in ("rule", "field", "level"))
        items, counts = queue_view(store.items(), rule, field_, level)
        return render_template("queue.html", items=items, counts=counts, rule=rule, field=field_, level=level,
                               decided=len(store.decisions()), tasks=store.tasks)

    @app.get("/item/<row_key>")
    def item(row_key):
        try:
            it = store.item(row_key)
        except KeyError:
            abort(404)
        return render_template("item.html", item=it, tasks=store.tasks, attempts=store.attempts(row_key),
                               segments={t: _segments(it, t) for t in store.tasks},
                               reviewer=app.config["REVIEWER"])

    @app.post("/item/<row_key>/edit")
    def edit(row_key):
        task = request.form.get("task", "")
        value = _form_value(store, task, request.form.get("text", ""))
        try:
            it = store.save_edit(row_key, task, value, _version(), reviewer())
        except (StaleEdit, AlreadyDecided) as exc:
            flash(str(exc) if str(exc) != row_key else "this item changed since you loaded it; reload", "error")
            return redirect(url_for("item", row_key=row_key)), 303
        except KeyError:
            abort(404)
        flash(f"saved {task}: {len(it.errors)} error(s) remain" if it.errors else f"saved {task}: no errors left",
              "info")
        return redirect(url_for("item", row_key=row_key)), 303

    @app.post("/item/<row_key>/approve")
    def approve(row_key):
        try:
            record = store.approve(row_key, _version(), reviewer())
        except (StaleEdit, AlreadyDecided, ValueError) as exc:
            flash(str(exc), "error")
            return redirect(url_for("item", row_key=row_key)), 303
        joined = record.get("phrasebook", (0, 0))[0]
        flash(f"approved {row_key}" + (f"; {joined} new frame(s) in the phrasebook" if joined else ""), "info")
        return redirect(url_for("queue")), 303

    @app.post("/item/<row_key>/reject")
    def reject(row_key):
        try:
            store.reject(row_key, _version(), request.form.get("reason", ""), reviewer())
        except (StaleEdit, AlreadyDecided, ValueError) as exc:
            flash(str(exc), "error")
            return redirect(url_for("item", row_key=row_key)), 303
        flash(f"rejected {row_key}", "info")
        return redirect(url_for("queue")), 303

    @app.get("/ratings")
    def ratings():
        return render_template("ratings.html", sample=store.rating_sample(), tasks=store.tasks)

    @app.post("/ratings/<row_key>")
    def rate(row_key):
        try:
            store.rate(row_key, request.form.get("verdict", ""), request.form.get("note", ""), reviewer())
        except ValueError as exc:
            flash(str(exc), "error")
        return redirect(url_for("ratings")), 303


def _version() -> int:
    from flask import abort, request

    try:
        return int(request.form.get("version", ""))
    except ValueError:
        abort(400, "missing version")


def _form_value(store: ReviewStore, task: str, text: str):
    """A textarea's text as the field's value: one item per non-empty line for a list field."""
    text = text.replace("\r\n", "\n")
    spec = store.brand.tasks.get(task)
    if spec is not None and getattr(spec, "kind", "text") == "list":
        return [line.strip().lstrip("-*").strip() for line in text.splitlines() if line.strip()]
    return text.strip()


def _segments(item, task: str) -> list[list[dict]]:
    """The field's text cut at findings' spans: per text (a list field has one per item), a list of
    ``{"text", "finding"}`` parts; the template marks each part that has a finding."""
    value = item.fields.get(task)
    texts = value if isinstance(value, list) else [value or ""]
    out = []
    for index, text in enumerate(texts):
        key = f"{task}[{index}]" if isinstance(value, list) else task
        spans = sorted((f.span, f) for f in item.findings if f.field == key and f.span)
        parts, pos = [], 0
        for (start, end), finding in spans:
            if start < pos or end > len(text):
                continue  # overlapping spans: the first one is marked; the message list has all
            parts += [{"text": text[pos:start], "finding": None}, {"text": text[start:end], "finding": finding}]
            pos = end
        parts.append({"text": text[pos:], "finding": None})
        out.append([p for p in parts if p["text"]])
    return out


def textarea_text(value) -> str:
    return "\n".join(value) if isinstance(value, list) else (value or "")


def run_review(options: ReviewOptions, echo=print) -> int:
    """``stylegen review``: export the decisions, or serve the app until interrupted.

    Returns:
        The number of decisions exported (export), else 0 after the server stops.
    """
    try:
        import flask  # noqa: F401
        import flask_wtf  # noqa: F401
    except ImportError:
        raise ConfigError("stylegen review needs Flask and Flask-WTF: pip install 'stylegen[review]'") from None
    store = ReviewStore(options.run_dir, options.approved)
    try:
        if options.export:
            return export_decisions(store, options.export)
        from werkzeug.serving import make_server

        app = create_app(store, reviewer=options.reviewer)
        server = make_server(options.host, options.port, app, threaded=False)
        echo(f"stylegen review: {store.run_dir}; approved edits go to {store.approved_path}")
        echo(f"open http://{options.host}:{server.port}/?token={app.config['REVIEW_TOKEN']}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        store.close()
