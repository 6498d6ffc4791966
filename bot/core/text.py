"""Noisy French: accent folding and SMS / phonetic spelling brought back to plain words.

Citizens type on phones, dictate to speech recognisers and often skip accents and
apostrophes. Two functions, shared by the emergency detector, the NLU and retrieval:

- `fold(text)`: lowercase, accents removed, ligatures split, apostrophes unified
  (the same behaviour as `knowledge_base.text.fold`).
- `normalise_noisy(text)`: `fold` plus the rewrites below; the output is folded text
  with its punctuation kept, so it can be tokenised like any other folded text.

What `normalise_noisy` rewrites, word by word (a "word" is a run of letters and
digits with inner apostrophes: ``j'ai``, ``aujourd'hui`` are one word):

- SMS abbreviations (`_WORDS`, whole words only): ``stp`` → s'il te plait, ``svp`` →
  s'il vous plait, ``bjr`` → bonjour, ``slt`` → salut, ``dc`` → donc, ``tjr`` →
  toujours, ``qd``/``kan`` → quand, ``pk``/``pq`` → pourquoi, ``bcp`` → beaucoup,
  ``qqn`` → quelqu'un, ``pb`` → probleme, ``rdv`` → rendez-vous, ``ds`` → dans, ``pr``
  → pour, ``tt`` → tout, ``mtn`` → maintenant, ``auj`` → aujourd'hui, ``dsl`` → desole.
- Phonetic spelling (`_WORDS`; `_ACCENTED` for those that need their accent, since
  ``me``, ``se``, ``je`` are ordinary words): ``ke``/``k`` → que, ``ki`` → qui, ``kel``
  → quel, ``koi`` → quoi, ``cmt``/``comen`` → comment, ``kom`` → comme, ``fé`` → fait,
  ``jé`` → j'ai, ``ché`` → chez, ``é`` → est, ``sé`` → c'est / s'est, ``mwa`` → moi,
  ``o`` → au, ``plu`` → plus, ``pa`` → pas, ``ya`` → il y a.
- Pronoun and verb run together: ``jveu``/``jvx`` → je veux, ``jpeu`` → je peux,
  ``jsui``/``chui`` → je suis, ``jai`` → j'ai, ``j'sais`` → je sais, ``jsp`` → je ne
  sais pas; any other ``j`` + consonant word with a vowel (no French word starts so)
  is split, its verb fixed by `_AFTER_JE` (``je peu`` → je peux). ``JDC`` stays.
- One letter in context: ``c`` → c'est, ``g`` → j'ai, ``e`` → est, ``k`` → que, ``o``
  → au; not after a label noun (``vitamine c``, ``permis c``, ``batiment g``), next to
  a digit (``5 g``) or attached by ``-./()@`` (``e-mail``, ``decede(e)``).
- Ambiguous words, by their neighbours: ``sa`` → ca before a verb (``sa brule``, not
  ``sa femme``); ``ma`` → m'a after a subject or before a participle (``il ma
  frappe``, not ``ma mere``; ``ma demandé`` needs the accent); ``c'est`` → s'est
  between a person and a reflexive participle (``elle c'est evanouie``); ``plu`` stays
  after ``a`` or an article (``il a plu``, ``le PLU``); ``mr`` → merci at the end or
  before ``bcp``, else monsieur.
- Repeated letters: runs of three or more squeezed to one (``secouuurs`` → secours,
  ``viiite`` → vite); exactly ``eee`` stays (``creee`` is créée).
- Frequent misspellings, dropped or doubled letters (`_WORDS`, also after an elided
  article): ``identiter`` → identite, ``pasport`` → passeport, ``naissanse`` →
  naissance, ``urgense`` → urgence, ``apeler`` → appeler, ``vitte`` → vite,
  ``quelqun`` → quelqu'un, ``secour`` → secours, ``leau`` → l'eau.
- Capitals and accents: ``L'ÉCOLE`` → l'ecole (`fold`).

Clean text keeps its meaning: on the project's clean question sets, the only words
rewritten are abbreviations (``svp``, ``rdv``) and real misspellings (measured by
`benchmarks/emergency_eval.py --normaliser`).

Why one module of this size: more than half of it is the word tables above, each
next to the rule that reads it; `fold` is the base every rewrite works on.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})


def fold(text: str) -> str:
    """Lowercase without accents; ligatures and apostrophes normalised."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae").translate(_APOSTROPHES)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Whole-word rewrites on folded words. Kept to spellings that are not ordinary
# French words (``cv``, ``ct``, ``ms``, ``mm``, ``ces``, ``ta`` are left alone).
# fmt: off
_WORDS: dict[str, str] = {
    # greetings, politeness
    "bjr": "bonjour", "bjour": "bonjour", "bonjoure": "bonjour", "bonjours": "bonjour",
    "bsr": "bonsoir", "slt": "salut", "dsl": "desole", "dzl": "desole",
    "stp": "s'il te plait", "stpl": "s'il te plait",
    "svp": "s'il vous plait", "svpl": "s'il vous plait", "svpp": "s'il vous plait",
    "slvp": "s'il vous plait", "sivouplai": "s'il vous plait", "sivousplait": "s'il vous plait",
    "mrc": "merci", "mrci": "merci", "mci": "merci", "msi": "merci", "mercie": "merci",
    "dac": "d'accord", "dacc": "d'accord", "dak": "d'accord", "daccord": "d'accord",
    "dacord": "d'accord", "dacor": "d'accord",
    "ui": "oui", "wi": "oui", "ouai": "oui", "ouais": "oui", "nan": "non",
    # question words
    "kan": "quand", "kand": "quand", "qan": "quand", "qd": "quand", "qnd": "quand",
    "quan": "quand",
    "ke": "que", "ki": "qui", "kil": "qu'il", "kel": "quel", "kelle": "quelle",
    "kels": "quels", "kelles": "quelles", "koi": "quoi", "kwa": "quoi", "koa": "quoi",
    "quoa": "quoi",
    "keske": "qu'est-ce que", "kesk": "qu'est-ce que", "kesske": "qu'est-ce que",
    "keskil": "qu'est-ce qu'il", "quesque": "qu'est-ce que", "qesque": "qu'est-ce que",
    "queske": "qu'est-ce que", "kesque": "qu'est-ce que",
    "cmt": "comment", "cmnt": "comment", "comen": "comment", "commen": "comment",
    "coment": "comment", "comant": "comment", "commant": "comment", "koment": "comment",
    "komen": "comment", "koman": "comment", "komman": "comment",
    "kom": "comme", "komme": "comme", "kome": "comme",
    "pk": "pourquoi", "pq": "pourquoi", "pkoi": "pourquoi", "pourkoi": "pourquoi",
    "pqoi": "pourquoi", "prkoi": "pourquoi", "pourqoi": "pourquoi",
    "pcq": "parce que", "pck": "parce que", "psk": "parce que", "pask": "parce que",
    "paske": "parce que", "parske": "parce que", "pasque": "parce que",
    # pronoun + verb run together
    "jai": "j'ai", "jaimerais": "j'aimerais", "jaimerai": "j'aimerais",
    "jarrive": "j'arrive", "jattends": "j'attends", "jattend": "j'attends",
    "javais": "j'avais", "jaurais": "j'aurais", "jetais": "j'etais", "jhabite": "j'habite",
    "jessaie": "j'essaie", "jessaye": "j'essaie", "jentends": "j'entends",
    "jentend": "j'entends", "jy": "j'y", "jen": "j'en",
    "jsp": "je ne sais pas", "jsais": "je sais", "chai": "je sais", "chais": "je sais",
    "jsui": "je suis", "jsuis": "je suis", "jsuiss": "je suis", "chui": "je suis",
    "chuis": "je suis", "chuui": "je suis",
    "cest": "c'est", "sest": "s'est", "ya": "il y a", "yen": "il y en",
    "nimporte": "n'importe", "quil": "qu'il", "quon": "qu'on",
    "jusqua": "jusqu'a",
    # time
    "tjr": "toujours", "tjrs": "toujours", "tjs": "toujours", "toujour": "toujours",
    "mnt": "maintenant", "mtn": "maintenant", "maintenan": "maintenant",
    "mintenant": "maintenant",
    "auj": "aujourd'hui", "ajd": "aujourd'hui", "aujd": "aujourd'hui", "ojd": "aujourd'hui",
    "aujourdhui": "aujourd'hui", "aujourdui": "aujourd'hui", "ojourdhui": "aujourd'hui",
    "ojourdui": "aujourd'hui", "2main": "demain", "dmain": "demain",
    # small words
    "dc": "donc", "ds": "dans", "pr": "pour", "vs": "vous", "ns": "nous",
    "tt": "tout", "tte": "toute", "ttes": "toutes", "tts": "toutes",
    "bcp": "beaucoup", "bcq": "beaucoup", "bcoup": "beaucoup", "bocou": "beaucoup",
    "boucoup": "beaucoup", "beaucou": "beaucoup",
    "qqn": "quelqu'un", "qqun": "quelqu'un", "qq1": "quelqu'un", "kelkun": "quelqu'un",
    "kelkin": "quelqu'un", "quelqun": "quelqu'un", "quelquun": "quelqu'un",
    "qqch": "quelque chose", "qqc": "quelque chose", "qqchose": "quelque chose",
    "quelquechose": "quelque chose", "kelkechose": "quelque chose",
    "qq": "quelques", "qlq": "quelques", "qlqs": "quelques", "qques": "quelques",
    "kelke": "quelque", "kelkes": "quelques",
    "pb": "probleme", "pbm": "probleme", "pblm": "probleme", "pbl": "probleme",
    "prob": "probleme", "probl": "probleme", "problem": "probleme",
    "rdv": "rendez-vous", "rdz": "rendez-vous", "msg": "message",
    "vrmt": "vraiment", "vrm": "vraiment", "vraimen": "vraiment", "tkt": "t'inquiete",
    "pa": "pas", "plu": "plus", "tro": "trop", "encor": "encore", "oci": "aussi", "ossi": "aussi",
    "mwa": "moi", "moa": "moi", "twa": "toi", "toa": "toi",
    "fe": "fait", "fr": "faire", "fo": "faut", "fodrait": "faudrait", "dla": "de la",
    "vnez": "venez", "venne": "venez",
    # frequent misspellings: dropped, doubled or swapped letters
    "identiter": "identite", "identitee": "identite", "indentite": "identite",
    "pasport": "passeport", "passport": "passeport", "paseport": "passeport",
    "passepor": "passeport",
    "naissanse": "naissance", "naisance": "naissance", "naissence": "naissance",
    "naisence": "naissance",
    "inscripsion": "inscription", "incription": "inscription", "inscripton": "inscription",
    "horraire": "horaire", "horraires": "horaires", "oraire": "horaire", "oraires": "horaires",
    "rensegnement": "renseignement", "renseignemant": "renseignement",
    "renseigement": "renseignement",
    "demmande": "demande", "demende": "demande", "demmende": "demande",
    "documant": "document", "atestation": "attestation", "attestasion": "attestation",
    "addresse": "adresse", "adrese": "adresse", "adress": "adresse",
    "apeler": "appeler", "appeller": "appeler", "apeller": "appeler", "apelle": "appelle",
    "urgense": "urgence", "urjence": "urgence", "urgance": "urgence", "urjense": "urgence",
    "urjent": "urgent", "urjant": "urgent", "urgant": "urgent",
    "secour": "secours", "secoure": "secours", "secourt": "secours",
    "ponpier": "pompier", "ponpiers": "pompiers", "pompie": "pompier",
    "ambulanse": "ambulance", "anbulance": "ambulance", "ambulence": "ambulance",
    "incendi": "incendie", "insendie": "incendie", "incendit": "incendie",
    "anfant": "enfant", "enfan": "enfant", "enfent": "enfant",
    "bezoin": "besoin", "bsoin": "besoin", "vitte": "vite",
    "inconsient": "inconscient", "inconsiant": "inconscient", "inconcient": "inconscient",
    "inconsciant": "inconscient", "inconscien": "inconscient",
    "menasse": "menace", "menase": "menace", "mourrir": "mourir", "mourire": "mourir",
    "respir": "respire", "respirre": "respire", "seigne": "saigne", "etouf": "etouffe",
    "setouf": "s'etouffe", "setouffe": "s'etouffe", "seffondre": "s'effondre",
    "couto": "couteau", "brul": "brule", "arive": "arrive", "fuitte": "fuite",
    "frap": "frappe", "frape": "frappe", "frapee": "frappee", "fai": "fait",
    "produi": "produit", "innondation": "inondation", "innonde": "inonde",
    "innondee": "inondee", "brulle": "brule", "fummee": "fumee", "acident": "accident",
    "accidant": "accident", "copin": "copain", "copine": "copine", "toillettes": "toilettes",
    # elided article glued to its noun ("leau monte", "coince a letage")
    "leau": "l'eau", "letage": "l'etage", "limmeuble": "l'immeuble",
    "lascenseur": "l'ascenseur", "lecole": "l'ecole", "lhopital": "l'hopital",
    "lappartement": "l'appartement", "lappart": "l'appart", "lenfant": "l'enfant",
    "lambulance": "l'ambulance", "lincendie": "l'incendie", "lentree": "l'entree",
    "lescalier": "l'escalier", "ladresse": "l'adresse", "lacte": "l'acte", "lair": "l'air",
    "leteindre": "l'eteindre", "pri": "pris", "sen": "sent", "ak": "avec", "avk": "avec",
    "devan": "devant", "bloke": "bloque", "blokee": "bloquee",
    # pronouns glued to "je"
    "jle": "je le", "jla": "je la", "jlui": "je lui", "jte": "je te", "jme": "je me",
    "jvous": "je vous", "jles": "je les",
}
# fmt: on

# Spellings recognised only with their accent: folded, they are ordinary words
# (``me``, ``se``, ``je``, ``te``).
_ACCENTED: dict[str, str] = {
    "é": "est",
    "fé": "fait",
    "jé": "j'ai",
    "ché": "chez",
    "mé": "mais",
    "té": "t'es",
    "vré": "vrai",
    "jamé": "jamais",
    "cé": "c'est",
    "voudré": "voudrais",
    "pouvé": "pouvez",
    "vené": "venez",
}

# After ``je``: the verb form the writer meant.
_AFTER_JE: dict[str, str] = {
    "veu": "veux",
    "vx": "veux",
    "ve": "veux",
    "veut": "veux",
    "v": "vais",
    "vai": "vais",
    "peu": "peux",
    "px": "peux",
    "pe": "peux",
    "peut": "peux",
    "sui": "suis",
    "sai": "sais",
    "sait": "sais",
    "fai": "fais",
    "fait": "fais",
    "doi": "dois",
    "doit": "dois",
    "croi": "crois",
    "croit": "crois",
    "voi": "vois",
    "comprend": "comprends",
    "pren": "prends",
    "prend": "prends",
    "trouv": "trouve",
}

# Nouns a single letter can follow as a label: "vitamine c", "permis c", "bâtiment g".
_LABELS = frozenset(
    """
    batiment bat bloc escalier esc entree porte allee hall lettre lettres categorie cat
    permis classe groupe zone niveau etage vitamine vitamines option plan annexe aile
    salle lot type tribune rang section case colonne point parking cage immeuble
    residence tour appartement appart apt appt numero n no secteur quartier terrain box
    cellier cave garage hepatite langage le la du de un une l sous plateforme quai voie
    ligne bus tram rer train programme tableau schema figure annexe article paragraphe
    alinea grade echelon indice note dossier piece sac taille pointure format
    """.split()
)

# Verbs that turn "sa" into "ça": "sa brule", "sa sent le gaz", "sa va".
_SA_VERBS = frozenset(
    """
    va vas brule brul crame sent sens pue fume fuit coule saigne marche craque explose
    arrive monte commence recommence suffit devient peut doit depend veut coute prend
    reste part fait fe y m me te nous vous ne n c s est etait sera serait fera ferait pu
    passe bouge tourne siffle tombe chauffe deborde inonde
    """.split()
)

# Participles that turn "ma" into "m'a": "il ma frappe", "mon mari ma dit". Those
# that are also nouns after "ma" ("ma demande", "ma montre") need their accent.
_PARTICIPLES = frozenset(
    """
    frappe frappee frape gifle giflee etrangle etranglee viole violee agresse agressee
    insulte insultee enferme enfermee battu battue dit fait appele envoye donne vole pris
    mordu mordue suivi suivie blesse blessee brule brulee jete cogne tabasse bouscule
    harcele oblige empeche interdit repondu ecrit conseille explique raconte renvoye refuse
    convoque informe prevenu contacte rappele recu quitte trompe vu entendu mis tue tuee
    attaque attaquee
    """.split()
)
_ACCENTED_PARTICIPLES = frozenset(
    "demande aide montre force touche pousse laisse tape casse menace griffe".split()
)

_SUBJECTS = frozenset("il elle on qui ca cela ils elles".split())
_ELISIONS = frozenset("d l j m t s n c qu jusqu lorsqu puisqu".split())
_PERSON_SUBJECTS = frozenset(
    """
    il elle on ils elles fille fils mere pere mari femme enfant bebe voisin voisine ami amie
    copain copine frere soeur maman papa mamie papi monsieur dame homme personne
    """.split()
)
# Participles of reflexive verbs: after a subject, "c'est" is a misspelt "s'est".
_REFLEXIVE_PARTICIPLES = frozenset(
    """
    evanoui evanouie effondre effondree ecroule ecroulee blesse blessee coupe coupee brule
    brulee noye noyee etouffe etouffee enfui enfuie enferme enfermee suicide suicidee pendu
    pendue casse cassee tue tuee electrocute electrocutee intoxique intoxiquee empoisonne
    empoisonnee fait perdu perdue endormi endormie reveille reveillee sauve sauvee battu
    battue battus disputes enfuis evanouis
    """.split()
)
_PLU_KEPT = frozenset(
    """
    a avait ont aura aurait m'a t'a lui leur le du au un ce son notre votre zonage
    consulter modification revision ma mon la de des
    """.split()
)

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_RUN3 = re.compile(r"([^\W\d_])\1{2,}")
_J_CONSONANT = re.compile(r"j'?([bcdfgjklmnpqrstvwxz][^\W_]*)$")
_DIGIT = re.compile(r"\d")
_VOWEL = re.compile(r"[aeiouy]")
_BREAK = re.compile(r"[.!?;:]")


def _squeeze(word: str) -> str:
    """Runs of three or more letters to one ("secouuurs"); "eee" stays ("creee" is créée)."""
    return _RUN3.sub(lambda m: m.group(0) if m.group(0) == "eee" else m.group(1), word)


def _fold_word(word: str) -> str:
    return _squeeze(word if word.isascii() else fold(word))


def _rewrite(
    raw: str, word: str, prev: str, nxt: str, nxt_raw: str, sep_after: str, sep_before: str
) -> str:
    """One word in its context (`raw` lowercase with accents, `word` folded); returns
    folded text."""
    if raw in _ACCENTED:
        if raw == "é" and (sep_after.startswith("-") or sep_before.endswith("-")):
            return "e"
        return _ACCENTED[raw]
    if raw == "sé":
        return "s'est" if prev in _SUBJECTS else "c'est"
    # Part of an address, a domain, an e-mail or "decede(e)": not an SMS word.
    attached = sep_after[:1] in ("-", ".", "/", ")", "@") or sep_before[-1:] in (
        "-",
        ".",
        "/",
        "(",
        "@",
    )
    labelled = prev in _LABELS or bool(_DIGIT.search(prev)) or bool(_DIGIT.search(nxt))
    if prev == "je" and word in _AFTER_JE:
        return _AFTER_JE[word]
    if len(word) == 1:
        if attached or labelled:
            return word
        return {"c": "c'est", "g": "j'ai", "e": "est", "k": "que", "o": "au"}.get(word, word)
    if word == "c'est" and nxt in _REFLEXIVE_PARTICIPLES and prev in _PERSON_SUBJECTS:
        return "s'est"  # "elle c'est evanouie": the writer meant "s'est"
    if word == "pu" and prev in ("ca", "sa"):
        return "pue"  # "sa pu le gaz"; "j'ai pu" stays
    if word == "peu" and nxt in ("plus", "plu", "pas", "pa"):
        return "peut"  # "elle peu plu se relever"
    if word == "sa" and (nxt in _SA_VERBS or nxt.startswith(("m'", "t'", "n'", "s'"))):
        return "ca"
    if word == "ma" and (
        prev in _SUBJECTS
        or nxt in _PARTICIPLES
        or (nxt in _ACCENTED_PARTICIPLES and nxt_raw.endswith(("é", "ée", "és", "ées")))
    ):
        return "m'a"
    if word == "plu" and (prev in _PLU_KEPT or nxt in _PLU_KEPT):
        # "il a plu" (rained), "le PLU" (the local urban plan), "zonage plu ma parcelle".
        return word
    if len(word) <= 3 and attached and word in _WORDS:
        return word
    if word == "mr":
        closing = ("", "bcp", "beaucoup", "davance", "d'avance", "pour", "encore", "bien")
        return "merci" if nxt in closing or nxt == "infiniment" else "monsieur"
    if word == "ya" and prev == "il":
        return "y a"
    if word == "y'a":
        return "y a" if prev == "il" else "il y a"
    if word in _WORDS:
        return _WORDS[word]
    elided, apostrophe, rest = word.partition("'")
    if apostrophe and elided in _ELISIONS and rest in _WORDS and " " not in _WORDS[rest]:
        return elided + "'" + _WORDS[rest]  # "d'identiter" -> d'identite
    match = _J_CONSONANT.match(word)
    rest = match.group(1) if match else ""
    # "jveu", "jbosse", "j'peux"; not acronyms such as "JDC" (no vowel).
    if rest and (rest in _AFTER_JE or (len(rest) >= 3 and _VOWEL.search(rest))):
        if rest.startswith(("m'", "t'", "s'", "n'", "l'")):
            return "je " + rest
        return "je " + _AFTER_JE.get(rest, _WORDS.get(rest, rest))
    return word


def normalise_noisy(text: str) -> str:
    """Folded text with SMS, phonetic and run-together spellings rewritten (see table)."""
    lowered = text.lower().translate(_APOSTROPHES)
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(lowered)]
    if not words:
        return " ".join(fold(lowered).split())
    folded = [_fold_word(w) for _, _, w in words]
    parts: list[str] = []
    previous_end = 0
    previous_out = ""
    for index, (start, end, raw) in enumerate(words):
        sep_before = lowered[previous_end:start]
        next_start = words[index + 1][0] if index + 1 < len(words) else len(lowered)
        sep_after = lowered[end:next_start]
        nxt = folded[index + 1] if index + 1 < len(words) else ""
        nxt_raw = words[index + 1][2] if index + 1 < len(words) else ""
        # A sentence break cuts the context.
        prev = "" if _BREAK.search(sep_before) else previous_out
        out = _rewrite(
            raw, folded[index], prev.rsplit(" ", 1)[-1], nxt, nxt_raw, sep_after, sep_before
        )
        parts.append(sep_before if sep_before.isascii() else fold(sep_before))
        parts.append(out)
        previous_end = end
        previous_out = out
    parts.append(fold(lowered[previous_end:]))
    return " ".join("".join(parts).split())


# French month names, for dates written (acknowledgements) and spoken (the callbot).
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
