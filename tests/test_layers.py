"""The house reads top-down: no module of gatebot imports, directly or not, a module that imports it."""

from __future__ import annotations

import grimp


def test_no_import_circles():
    graph = grimp.build_graph("gatebot")
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                circles.append(graph.find_shortest_chain(importer=imported, imported=module) + (module,))
    assert circles == []


def test_the_core_and_links_do_not_know_the_service():
    graph = grimp.build_graph("gatebot")
    for lower in ("gatebot.links", "gatebot.fetch", "gatebot.page", "gatebot.digest", "gatebot.scheduler",
                  "gatebot.store", "gatebot.classifier"):
        assert not graph.chain_exists(importer=lower, imported="gatebot.service"), lower
    assert graph.modules >= {"gatebot.service", "gatebot.handlers.telegram", "gatebot.handlers.slack", "gatebot.cli"}
