"""A running endpoint in a notebook: its URL, a copyable curl line, and a form to try an observation."""

from __future__ import annotations

import html
import json

from ..deploy.handler import example_request
from ..errors import BadValue


class EndpointView:
    """Shows an ``Endpoint`` (``.endpoint``) as widgets; ``ask(observation)`` is what the form's button does.

    Attribute access falls through to the endpoint: ``view.url``, ``view.invoke(...)``, ``view.stop()``.
    """

    def __init__(self, endpoint):
        import ipywidgets as w

        self.endpoint = endpoint
        about = endpoint.describe()
        widths = self.widths = about["observations"]
        where = f"SageMaker endpoint <code>{html.escape(endpoint.name)}</code> ({html.escape(endpoint.kind)})" \
            if hasattr(endpoint, "kind") else f"endpoint <code>{html.escape(endpoint.url)}</code>"
        self.header = w.HTML(f"<b>{where}</b> &nbsp; serving <code>{html.escape(about['model'])}</code> "
                             "(GET /ping, POST /invocations)")
        self.curl = w.Textarea(value=endpoint.curl(), layout=w.Layout(width="100%", height="3.2em"))
        self.curl.add_class("unity-nb-curl")
        example = example_request(widths)
        self.observation = w.Text(value=json.dumps(example), description="observation",
                                  layout=w.Layout(width="100%"))
        self.ask_button = w.Button(description="Ask", icon="paper-plane", tooltip="POST it to /invocations")
        self.ask_button.on_click(lambda _: self.ask(self.observation.value))
        self.answer = w.HTML()
        self.answer.add_class("unity-nb-answer")
        self.stop_button = w.Button(description="Stop endpoint", icon="stop", button_style="warning")
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = w.VBox([self.header, self.curl, w.HBox([self.observation]),
                              w.HBox([self.ask_button, self.stop_button]), self.answer])
        self.widget.add_class("unity-nb-endpoint")

    def ask(self, observation) -> str:
        """Send one observation (a JSON text or a list) and show the action (or the endpoint's refusal)."""
        try:
            try:
                value = json.loads(observation) if isinstance(observation, str) else observation
            except json.JSONDecodeError as err:
                raise BadValue(f"the observation is not a JSON list of numbers ({err})") from None
            actions = self.endpoint.invoke([value] if len(self.widths) == 1 else value)
            self.answer.value = f"action: <code>{html.escape(json.dumps(actions[0]))}</code>"
        except (ValueError, OSError, LookupError) as err:
            self.answer.value = f"<span style='color:#d93025'>{html.escape(str(err))}</span>"
        return self.answer.value

    def stop(self) -> None:
        self.endpoint.stop()
        self.ask_button.disabled = self.stop_button.disabled = True
        self.stop_button.description = "Stopped"

    def __getattr__(self, name):
        return getattr(self.__dict__["endpoint"], name)

    def _repr_mimebundle_(self, **kwargs):
        from .figures import bundle

        data = bundle(self.widget, None, repr(self.endpoint))
        data["text/html"] = (f"<p>endpoint <code>{html.escape(self.endpoint.url)}</code></p>"
                             f"<pre>{html.escape(self.endpoint.curl())}</pre>")
        return data

    def __repr__(self):
        return repr(self.endpoint)
