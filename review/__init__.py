"""The analyst review service: the newest fraud alerts in a browser, one-click labels, labelled precision.

It follows ``fraud-alerts``, ``fraud-labels`` and the shadow version's verdicts (:mod:`review.follower`),
keeps the newest alerts and every label in memory (:mod:`review.state`), serves a server-rendered page
(:mod:`review.page`) and the quality metrics computed from them (:mod:`review.metrics`). A click posts a
label to the compacted labels topic, validated like the gateway's ``POST /labels`` (:mod:`taxifraud.labels`).
"""
