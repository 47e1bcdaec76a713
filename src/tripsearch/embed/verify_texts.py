"""The fixed texts an ONNX export must reproduce (``tripsearch.embed.export`` verifies every export on them).

Short, long (past the 256-token window), multilingual, code, emoji and empty texts. Tests use different texts,
so agreement there is not circular.
"""

from __future__ import annotations


def _long_text() -> str:
    """~450 tokens, no repetition, so truncating at 250 instead of 256 already drops the cosine to ~0.997."""
    return " ".join(
        [
            "The second day opened with a keynote on platform engineering and why internal developer portals fail.",
            "The speaker argued that golden paths only work when the platform team treats developers as customers.",
            "After lunch I went to a hands-on workshop about eBPF tracing, which ran over time by forty minutes.",
            "Key takeaway: measure p99 latency per tenant, not per cluster, or noisy neighbours stay invisible.",
            "The hallway track was, as usual, more useful than half of the scheduled sessions.",
            "A database panel disagreed loudly about whether Postgres logical replication is ready for zero-downtime upgrades.",
            "One panelist had migrated four hundred tenants with pglogical and still kept a manual rollback runbook.",
            "In the afternoon a security talk walked through a supply-chain attack on a popular npm package.",
            "The attacker had phished a maintainer, published a patch release, and exfiltrated CI secrets for six hours.",
            "Their fix was boring and effective: short-lived tokens, provenance attestations, and two-person releases.",
            "The closing keynote switched topics entirely and talked about burnout in on-call rotations.",
            "She showed survey data from eleven hundred engineers linking pager load to attrition within a year.",
            "Dinner was at a Bavarian beer hall where nobody could hear each other over the brass band.",
            "On the last morning I skipped the sponsor demos and wrote up these notes on the train to the airport.",
            "Next year the conference moves to Lisbon, and the call for papers opens in February.",
            "I would go again, but I would plan the schedule around the workshops instead of the keynotes.",
            "Slides for most talks are already online, and the videos should follow within a month or so.",
            "If you only watch one, make it the supply-chain talk; it changed how our team thinks about releases.",
        ]
    )


_GERMAN_LONG = (
    "Zusammenfassung des zweiten Konferenztages. Die Keynote behandelte Plattform-Teams und interne Entwicklerportale. "
    "Danach ging es um Kostenkontrolle in der Cloud: Reservierungen, Spot-Instanzen und warum niemand die Rechnung "
    "versteht. Im Workshop über Rust haben wir einen kleinen HTTP-Server mit Tokio gebaut, der am Ende tatsächlich "
    "lief. Am Nachmittag sprach eine Forscherin über formale Verifikation verteilter Protokolle mit TLA+ und zeigte, "
    "wie ein Modellprüfer einen Fehler fand, der neun Schritte und zwei Netzwerkpartitionen brauchte. Die "
    "Podiumsdiskussion zur Barrierefreiheit war leider schlecht besucht, obwohl sie die konkretesten Ratschläge des "
    "Tages enthielt: Tastaturnavigation testen, Kontraste messen, Screenreader wirklich benutzen. Abends gab es ein "
    "Treffen der lokalen Go-Community mit Brezeln, Club-Mate und einer spontanen Diskussion über Generics. Zum "
    "Schluss noch ein Hinweis: Die Aufzeichnungen erscheinen in etwa vier Wochen auf der Website der Veranstalter, "
    "und die Folien sind teilweise schon verlinkt. Nächstes Jahr findet die Konferenz in Leipzig statt."
)


# Fixed texts the export must reproduce. Tests use different texts, so agreement there is not circular.
VERIFY_TEXTS: tuple[str, ...] = (
    "Kubernetes",
    "What did they say about multi-account strategy?",
    "  The keynote started late because of Wi-Fi problems.  ",
    "Der Vortrag über Observability mit OpenTelemetry war der beste Teil der Konferenz.",
    "Straßenbahn, Größenänderung und Überwachung: Wörter, die Tokenizer gern zerlegen.",
    "La présentation sur Rust et la sécurité mémoire était passionnante.",
    "def chunk(xs, n):\n    return [xs[i:i + n] for i in range(0, len(xs), n)]",
    'func main() {\n\tfmt.Println("hello, gophers")\n}',
    "kubectl apply -f deploy.yaml && kubectl rollout status deploy/api --timeout=120s",
    "See [the slides](https://example.com/talks/2024/ebpf.pdf) — **highly** recommended!",
    "2019-05-14: 3,200 attendees, 95 talks and $1.5M raised for the PSF.",
    "Great conference 🎉🚀 — would go again 👍",
    "東京でのカンファレンスは素晴らしかった。",
    "LIGHTNING TALKS WERE THE HIGHLIGHT OF THE WHOLE WEEK",
    "",
    " \n\t ",
    "?!",
    "x" * 300,
    "AWS re:Invent day one. Werner's keynote was about cost as a non-functional requirement; the most "
    "concrete session was a customer story about moving a Java 17 Lambda from a 6.2 second cold start "
    "to under a second with SnapStart, plus the trade-offs around uniqueness of random seeds.",
    _long_text(),
    _GERMAN_LONG,
)
