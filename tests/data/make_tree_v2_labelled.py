"""How tests/data/tree-v2-labelled.json was made: a labelled tree file as topicmap wrote it before
``label_meta.extra`` became a typed record (run at commit f205458, whose labeller wrote a plain dict):

    PYTHONPATH=. python tests/data/make_tree_v2_labelled.py tests/data/tree-v2-labelled.json

tests/test_provenance.py checks that such a file loads, reads through the typed fields, and saves unchanged.
"""
import sys, tempfile
from pathlib import Path
from topicmap.hierarchy.labels.label import LabelOptions, label_tree
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.prompting import resolve_prompts
from topicmap.hierarchy.tree.treefile import save_tree
from tests.llm_fixtures import fast_config, make_tree
from tests.openai_server import Fault, FakeOpenAIServer, first_user_message

tree = make_tree(collide=True, chain=True)
with FakeOpenAIServer() as server, tempfile.TemporaryDirectory() as cache:
    server.fault_for = lambda body: Fault("malformed_content") if "Cluster 2.0 holds" in first_user_message(body) else None
    report = label_tree(tree, fast_config(server.base_url), LabelOptions(prompts=resolve_prompts(["v1"])), AnswerCache(Path(cache)))
print(report.failed, report.renamed, report.reused, file=sys.stderr)
with FakeOpenAIServer() as server, tempfile.TemporaryDirectory() as cache:  # relabel 2.1, which fails: its LLM label stays
    server.fault_for = lambda body: Fault("malformed_content") if "Cluster 2.1 holds" in first_user_message(body) else None
    label_tree(tree, fast_config(server.base_url), LabelOptions(prompts=resolve_prompts(["v1"]), targets=frozenset({"2.1"}), with_ancestors=False, force=True), AnswerCache(Path(cache)))
# what the labeller writes in cases a scripted server does not reach here, as it writes them
tree.node("0.0").label_meta.extra.update(attempts=3, warning="kept after 3 tries: the name reads closer to a neighbouring topic", name_from_candidates=True)
tree.node("0.1").label_meta.extra["renamed_because"] = "its parent 0 has the same label"
tree.node("1").label_meta.extra["keyword_summary"] = "bread, dough"
tree.node("2.0").label_meta.extra["refreshed_by"] = "assign"
tree.node("2").label_meta.extra["written_by_a_newer_version"] = {"score": 0.5}  # unknown to this version: kept as it is
tree.node("3.0").label_meta.extra["attempts"] = "two"  # a known key with a value of another type: kept as it is
# what 'topicmap assign' writes: a stale flag with the size at labelling, and a refreshed keyword label
tree.node("0.1").label_meta.extra.update(size_at_label=2, stale=True)
tree.node("root").label_meta.extra["size_at_label"] = 14
save_tree(tree, sys.argv[1])
