"""Rendering a folium map so that no data value is ever compiled as a template.

branca renders each element's ``header``/``html``/``script`` macro and then wraps the *output*
in ``branca.element.Element(text)``, which compiles that text as a Jinja2 template and renders
it a second time (``MacroElement.render``). Any value that reached the first rendering (a
school's name in a popup payload, a layer name, a title, a tile URL) was therefore template
source: ``{{ cycler.__init__.__globals__.os.popen('id').read() }}`` ran a shell command when
the map was written, ``50{%}`` crashed the writer and ``{{Best}}`` vanished.

Here every element geoequity puts in a map renders its macros once and places the output in
the page as text (:class:`RawElement`), never as template source. :func:`check_tree` refuses a
map holding any element that would still be rendered the unsafe way (e.g. a folium plugin
added later), so the guarantee does not depend on remembering this.
"""

from __future__ import annotations

import re

import folium
import folium.map
from branca.element import Element, Figure, MacroElement
from folium.elements import ElementAddToElement

from geoequity._errors import GeoequityError


class RawElement(Element):
    """A piece of the page given as final text: rendered as it is, never compiled."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "RawElement"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class SafeMacro(MacroElement):
    """``MacroElement`` whose rendered macros enter the page as text (one rendering only).

    Mixed in *after* a folium class (``class X(folium.TileLayer, SafeMacro)``), so that the
    folium class's own ``render`` (layer lists, JS/CSS links) runs first and its
    ``super().render()`` lands here instead of in ``MacroElement.render``.
    """

    def render(self, **kwargs):
        figure = self.get_root()
        if not isinstance(figure, Figure):
            raise GeoequityError("a map element can only be rendered inside its figure")
        module = self._template.module.__dict__
        for part, target in (("header", figure.header), ("html", figure.html),
                             ("script", figure.script)):
            macro = module.get(part)
            if macro is not None:
                target.add_child(RawElement(str(macro(self, kwargs))), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)


class SafeMap(folium.Map, SafeMacro):
    """``folium.Map`` rendered the safe way; every rendering (``save_map``, a notebook's
    ``_repr_html_``, ``Map.save``) first refuses an unsafe element (:func:`check_tree`)."""

    def render(self, **kwargs):
        root = self.get_root()
        if isinstance(root, Figure):
            check_tree(root)
        super().render(**kwargs)


class SafeTileLayer(folium.TileLayer, SafeMacro):
    """``folium.TileLayer`` rendered the safe way (the URL and attribution are user text)."""


class SafeLayerControl(folium.LayerControl, SafeMacro):
    """``folium.LayerControl`` rendered the safe way (layer names carry proposal names)."""


class SafeFitBounds(folium.map.FitBounds, SafeMacro):
    """``folium.map.FitBounds`` rendered the safe way."""


_JS_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _elements(element: Element):
    yield element
    for child in element._children.values():
        yield from _elements(child)
    if isinstance(element, Figure):
        for part in (element.header, element.html, element.script):
            yield from _elements(part)


def check_tree(root: Figure) -> None:
    """Refuse to render a map holding an element that would compile its output as a template.

    Allowed: :class:`RawElement`, :class:`SafeMacro` subclasses, the figure itself, its three
    containers and branca's fixed ``<meta>`` element (no data in either).
    """
    containers = {id(root), id(root.header), id(root.html), id(root.script)}
    for el in _elements(root):
        if id(el) in containers or isinstance(el, RawElement | SafeMacro):
            continue
        if type(el) is Element and el._template_str is not None and "{" not in el._template_str:
            continue  # e.g. branca's <meta charset> line: constant text without template syntax
        if type(el) is ElementAddToElement and all(
                _JS_NAME.fullmatch(str(n)) for n in (el.element_name, el.element_parent_name)):
            continue  # folium's "<layer>.addTo(<map>)" line, added when a layer is rendered
        raise GeoequityError(
            f"map element {type(el).__name__} would compile its rendered text as a template "
            "(data could run code); build it from geoequity.maps._safe classes")
