"""The search over solutions (issue #14): a tree of nodes, each a commit with its runs, grown by
draft, debug and improve steps that the measured metric chooses, with reflect steps that turn
what was measured into evidence for the ideas phase."""
