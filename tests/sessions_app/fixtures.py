"""A realistic consultation (chest pain), written for these tests, in the three languages."""

from __future__ import annotations

CHEST_PAIN_EN = [
    "Good morning, what brings you in today?",
    "I've had this chest pain for three days now. It's a sharp pain in the middle of my chest.",
    "Does it get worse when you breathe in?",
    "Yes, it hurts more when I take a deep breath, and it's worse when I lie down flat.",
    "Does anything make it better?",
    "It feels better when I sit up and lean forward.",
    "Have you been ill recently?",
    "I had a cold last week. I'm also a bit short of breath.",
    "Any fever or cough?",
    "No fever, and I don't have a cough.",
]
CHEST_PAIN_CS = [
    "Dobrý den, co vás trápí?",
    "Už tři dny mám ostrou bolest na hrudi.",
    "Bolí to víc při hlubokém nádechu a vleže.",
    "V předklonu se mi uleví.",
    "Minulý týden jsem měl chřipku.",
    "Horečku nemám.",
]
CHEST_PAIN_DE = [
    "Guten Tag, was führt Sie zu mir?",
    "Ich habe seit drei Tagen stechende Brustschmerzen.",
    "Es wird schlimmer beim tiefen Einatmen und im Liegen.",
    "Wenn ich mich nach vorne beuge, wird es besser.",
    "Ich hatte letzte Woche eine Erkältung. Kein Fieber.",
]
# Spoken by espeak-ng in the end-to-end test: short chunks the way a VAD would cut them.
SPOKEN_EN = [
    "I have had sharp chest pain for three days.",
    "It hurts more when I take a deep breath, and it is worse when I lie down.",
    "It feels better when I lean forward. I had a cold last week.",
]
