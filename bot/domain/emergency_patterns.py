"""The patterns the emergency detector (bot/domain/emergency.py) reads a message with.

Data, not logic: word classes, the context markers (hypothesis, past, habit, "now"...)
and one `Cue` per way of saying that someone is in danger, each tied to a kind of
emergency. They are Python rather than a YAML file because most patterns are built
from raw-string pieces and shared fragments (`_FEU_NOT`, the {CLASS} word classes)
whose spaces matter, and compiling them at import keeps a bad one from ever loading.
One module: a cue is added, tested (tests/unit/test_emergency.py) and measured
(benchmarks/emergency_eval.py) beside the others of its kind, so the list is not split.

Every pattern runs on canonical text (emergency.py's `_canonical`): lowercase, no
accents, only letters, digits, spaces, " . " and " , "; every word follows a space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    name: str
    kind: str
    pattern: re.Pattern[str]
    acute: bool
    not_before: re.Pattern[str] | None = None  # tested on the 40 characters before
    not_in_text: re.Pattern[str] | None = None  # anywhere in the message


# Word classes used inside the patterns, written {NAME}.
_CLASSES = {
    # people who can be in danger (subjects or victims)
    "PERSON": (
        r"(?:il|elle|ils|elles|on|je|j|nous|quelqu un|personne|homme|femme|dame|monsieur|"
        r"madame|enfant|enfants|bebe|bb|petit|petite|fils|fille|mari|epoux|epouse|pere|mere|"
        r"papa|maman|frere|soeur|grand pere|grand mere|papi|papy|mamie|voisin|voisine|ami|"
        r"amie|copain|copine|compagnon|compagne|conjoint|conjointe|collegue|ouvrier|pieton|"
        r"cycliste|motard|conducteur|conductrice|passant|passante|client|cliente|garcon|"
        r"gamin|gamine|ado|adolescent|adolescente|oncle|tante|cousin|cousine|neveu|niece|"
        r"patient|randonneur|gars|mec|type|individu|bonhomme|vieux|vieille|senior|"
        r"personne agee|beau pere|belle mere|eleve|jeune|ex|automobiliste|femme enceinte)"
    ),
    # partners and family: violence between them is domestic violence
    "FAMILY": (
        r"(?:(?:mon|ma|son|sa|notre|leur) (?:mari|femme|epoux|epouse|conjoint|conjointe|"
        r"compagnon|compagne|copain|copine|concubin|concubine|petit ami|petite amie|ex|pere|"
        r"mere|beau pere|belle mere|fils|fille|frere|soeur|oncle|tante|mec|meuf|jules|homme|"
        r"petit copain|petite copine)|mon ex|son ex)"
    ),
    "CHILD": (
        r"(?:enfant|enfants|bebe|bebes|bb|fils|fille|fillette|petit|petite|petits|gosse|"
        r"gosses|gamin|gamine|gamins|niece|neveu|nourrisson|ado|adolescent|adolescente|"
        r"garcon|garconnet|petit garcon|petite fille|petits enfants)"
    ),
    "TOXIC": (
        r"(?:javel|eau de javel|produit|produits|detergent|lessive|capsule|capsules|destop|"
        r"deboucheur|white spirit|essence|gasoil|petrole|alcool a bruler|antigel|lave glace|"
        r"liquide|desherbant|pesticide|insecticide|raticide|mort aux rats|poison|champignons|"
        r"champignon|baies|pile|piles|pile bouton|aimant|aimants|bille|billes|ammoniaque|"
        r"acide|soude|chlore|plante|e liquide|drogue|drogues|methadone|cannabis|cocaine|"
        r"heroine|ecstasy|gbh|ghb|somniferes|antidepresseurs|anxiolytiques|paracetamol|"
        r"doliprane|ibuprofene|xanax|lexomil|tramadol|morphine|insuline|vernis|dissolvant|"
        r"soude caustique|nettoyant|anticalcaire|liquide vaisselle|produit vaisselle|"
        r"produit menager|mercure|huile essentielle|huiles essentielles|granules|anti limaces|"
        r"antilimaces|engrais|peinture|colle|lave vitre|anti moustique|naphtaline|cigarette|"
        r"cigarettes|tabac|alcool|vodka|whisky|rhum|produit de nettoyage|chlore de piscine|"
        r"galet de chlore|pastille|pastilles|ammoniac|bombe insecticide|raticide)"
    ),
    "MEDS": (
        r"(?:medicament|medicaments|medocs|cachet|cachets|comprime|comprimes|pilule|pilules|"
        r"gelule|gelules|somniferes|antidepresseurs|anxiolytiques|calmants|doliprane|"
        r"paracetamol|xanax|lexomil|tramadol)"
    ),
    "WEAPON": (
        r"(?:couteau|couteaux|arme|armes|pistolet|pistolets|fusil|fusils|flingue|flingues|"
        r"hache|machette|revolver|batte|batte de baseball|barre de fer|sabre|cutter|marteau|"
        r"kalachnikov|kalach|tournevis|bouteille cassee|baton|arme a feu|carabine|poignard)"
    ),
    "BURNABLE": (
        r"(?:maison|maisons|appartement|appart|apart|immeuble|batiment|grange|garage|voiture|"
        r"voitures|camion|bus|car|scooter|moto|poubelle|poubelles|local|cuisine|chambre|"
        r"salon|foret|bois|champ|haie|toit|cave|entrepot|usine|ecole|magasin|hangar|cabane|"
        r"caravane|ferme|hotel|restaurant|bar|tout|friteuse|poele|casserole|four|sechoir|"
        r"seche linge|lave linge|canape|lit|matelas|sapin|broussailles|herbe|paille|"
        r"cheminee|conduit|chaudiere|tableau electrique|compteur|transformateur|batterie|"
        r"vehicule|tracteur|mobil home|eglise|mairie|gymnase|salle|grenier|atelier|bureau)"
    ),
}


def _p(pattern: str) -> re.Pattern[str]:
    """Compile a pattern written on canonical text, with {CLASS} word classes.

    Every word of canonical text follows a space, so a leading word boundary is
    written as that space: CPython's matcher then jumps between spaces instead of
    trying every alternative at every position (17 times faster on long messages)."""
    for name, value in _CLASSES.items():
        pattern = pattern.replace("{" + name + "}", value)
    return re.compile(_LEADING_BOUNDARY.sub(r"\1 ", pattern))


_LEADING_BOUNDARY = re.compile(r"(^|\||\(\?:)\\b")


# Context markers, on the normalised text.
HYPOTHESIS = _p(
    r"\b(?:en cas d|en cas de|au cas ou|si jamais|si par hasard|que faire si|quoi faire si|"
    r"que faire quand|que faire lorsqu|comment (?:reagir|faire|agir|se comporter|reconnaitre)"
    r" (?:si|quand|lorsqu|en cas|face|devant)|quels? (?:gestes?|consignes?|reflexes?|"
    r"comportements?)|quelles? (?:consignes?|sont les consignes)|si (?:un|une|on|quelqu un|"
    r"mon|ma|mes|le|la|les|l|il|elle|ils|elles|j|je|nous|des|votre|son|sa|ses|ca)\b|"
    r"lorsqu (?:un|une|on|il|elle)|quand (?:un|une|on|quelqu un)\b|protocole|"
    r"s ils? (?!vous plait|te plait)|"
    r"apprendre a|savoir (?:reagir|quoi faire))"
)
COUNTERFACTUAL = _p(
    r"\b(?:failli|aurait pu|aurais pu|j ai cru|on a cru|cru (?:mourir|que)|comme si|"
    r"on aurait dit|presque fait)\b"
)
DISTANT_PAST = _p(
    r"\b(?:la semaine derniere|le mois dernier|l an dernier|l annee derniere|l an passe|"
    r"l annee passee|(?:l ete|l hiver|l automne|le printemps|le week end|samedi|dimanche|"
    r"lundi|mardi|mercredi|jeudi|vendredi) dernier|il y a (?:\d+|un|une|deux|trois|quatre|"
    r"cinq|six|sept|huit|neuf|dix|quinze|vingt|quelques|plusieurs|des) (?:jours|semaines|"
    r"semaine|mois|ans|an|annees|annee)|en (?:19|20)\d\d|en (?:janvier|fevrier|mars|avril|"
    r"mai|juin|juillet|aout|septembre|octobre|novembre|decembre)|l autre jour|"
    r"dans le passe|autrefois|a l epoque|quand j etais|il y a longtemps|avant hier|"
    r"pendant (?:la guerre|les vacances|les emeutes)|la nuit de (?:samedi|dimanche|lundi|"
    r"mardi|mercredi|jeudi|vendredi))\b"
)
RECENT_PAST = _p(
    r"(?<!depuis) (?:hier|hier soir|cette nuit|la nuit derniere|ce matin|tout a l heure|"
    r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)(?: soir| matin)?|"
    r"a eu lieu)\b"
)
HABIT = _p(
    r"\b(?:souvent|tous les (?:jours|soirs|matins|week ends|ans|dimanches|samedis|hivers|"
    r"etes|mois|deux jours)|toutes les (?:nuits|semaines|annees)|chaque (?:fois|annee|"
    r"hiver|ete|soir|nuit|orage|pluie|jour|semaine|week end|dimanche|samedi)|"
    r"a chaque (?:fois|pluie|orage|hiver|averse)|regulierement|tout le temps|"
    r"en permanence|depuis (?:des|plusieurs|quelques) (?:mois|annees|semaines)|"
    r"le (?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|week end)\b|"
    r"la nuit(?! (?:tombe|arrive|derniere))|parfois|de temps en temps|frequemment|"
    r"frequent|frequents)\b"
)
ADMIN = _p(
    r"\b(?:comment (?:declarer|obtenir|porter plainte|recuperer|faire (?:une|la|le|ma|"
    r"mon|les) (?:demande|declaration|dossier|constat))|declarer|declaration|attestation|"
    r"certificat|formulaire|dossier|demarches?|indemnis\w*|assurance|assureur|expert|"
    r"plainte|proces verbal|constat|rembours\w*|(?<!a l )aides?|allocation|relogement|"
    r"reloger|logement temporaire|catastrophe naturelle|sinistre|sinistres|justificatif|"
    r"acte de|inscri\w*|reconstruire|autorisation|ai je droit|droit a|responsable|"
    r"qui paie|qui doit payer|rapport|proces|tribunal|avocat|carte grise|permis|arrete|"
    r"succession|obseques|conge|apa|mdph|ccas|pai|cantine|creche|ecole maternelle|"
    r"est ce legal|est ce autorise|est ce obligatoire|obligatoire|interdit|reglement\w*|"
    r"legal|legale|remercier|monument|archives|proces|enquete|dispense|puis je|peut on|"
    r"est ce que je peux|est ce qu on peut|a t on le droit|ai je le droit|est il permis|"
    r"est il interdit|autorise|autorisee|autorises)\b"
)
INFORMATION = _p(
    r"\b(?:portes? ouvertes?|exercice|exercices|simulation|formation|formations|stage|"
    r"atelier|conference|sensibilisation|prevention|recrutement|recrute|devenir|"
    r"demonstration|demo|film|films|spectacle|escape|exposition|roman|commemor\w*|"
    r"hommage|ceremonie|calendrier|sainte barbe|bal|documentaire|theatre|cinema|serie|"
    r"livre|musee|visite|chasse|chasseurs|chasseur|ball trap|stand de tir|"
    r"tir sportif|petards|feu d artifice|feux d artifice)\b"
)
RESOLVED = _p(
    r"\b(?:ete|est|sont|etait) (?:completement |bien |deja )?(?:eteint|eteinte|eteints|"
    r"maitrise|maitrisee|"
    r"repare|reparee|reparees|retrouve|retrouvee|retrouves|evacue|evacuee|securise|"
    r"securisee|rouvert|rouverte|rouverts|remplace|remplacee)\b"
)
NEGATION = _p(
    r"\b(?:sans (?:blesses?|gravite|victimes?|danger)|personne n (?:a ete|est) "
    r"(?:blesse|touche)|aucun (?:blesse|mort|danger)|aucune victime|pas de (?:blesses?|"
    r"victimes?|danger)|n est pas blesse|tout le monde va bien|plus de peur que de mal|"
    r"(?:il|elle) va bien)\b"
)
NOW = _p(
    r"\b(?:maintenant|en ce moment|actuellement|la tout de suite|tout de suite|en direct|"
    r"en train de|en cours|encore la|toujours la|(?<!plus )vite|au secours|a l aide|venez)\b"
)
CAN_NOT_SPEAK = _p(
    r"\b(?:(?:ne )?(?:peux|peut|pouvons) pas parler|sourd|sourde|sourds|malentendant|"
    r"malentendante|muet|muette|pas parler fort|je chuchote|ne m entend pas)\b"
)
SENTENCE = re.compile(r" \. ")
CLAUSE = re.compile(r" [.,] ")


def _cue(
    name: str,
    kind: str,
    pattern: str,
    *,
    acute: bool,
    not_before: str | None = None,
    not_in_text: str | None = None,
) -> Cue:
    return Cue(
        name,
        kind,
        _p(pattern),
        acute,
        _p(not_before + r"$") if not_before else None,
        _p(not_in_text) if not_in_text else None,
    )


_FEU_NOT = (
    r"(?! (?:rouge|rouges|vert|verte|orange|tricolore|tricolores|clignotant|clignote|pieton|"
    r"pietons|de signalisation|de circulation|de croisement|de position|de route|d artifice|"
    r"de camp|de joie|de la saint|de bengale|de jardin|doux|sacre|passe|est passe|suivant|"
    r"prochain|a droite|a gauche|tournez|tourne|prenez|puis|du carrefour|de l avenue|"
    r"de la rue|ne marche|ne fonctionne|en panne|reste|est bloque)\b)"
)
_SOS_NOT = (
    r"(?! (?:amitie|medecins?|villages|racisme|homophobie|femmes|enfants|papa|"
    r"surendettement|detresse amitie)\b)"
)
_ADMIN_HELP = (
    r"\b(?:formulaire|site|dossier|facture|remplir|comprends rien|comprend rien|connexion|"
    r"mot de passe|papiers|demarche|impots|internet|application|appli|en ligne|ordinateur|"
    r"imprimante|compte|telecharger|rendez vous)\b"
)

CUES: tuple[Cue, ...] = (
    # ---- fire -------------------------------------------------------------------------
    _cue(
        "au feu",
        "fire",
        r"\bau feu\b" + _FEU_NOT,
        acute=True,
        not_before=r"\b(?:arrete|arretee|arretes|attendre|attends|attend|stop|devant|"
        r"passer|passe|griller|grille|grillait|poule|trou|accident|tournez|tourner|droite|"
        r"gauche|jusqu|voiture|velo)(?: [a-z]+){0,2}",
    ),
    _cue(
        "il y a le feu",
        "fire",
        r"\b(?:il y a|y a|ya|il y avait|vient d y avoir|j ai|on a)(?: un| une| le| du)?"
        r"(?: gros| grand| petit| enorme| violent| debut de| depart de| debut d| depart d)?"
        r" (?:feu|incendie|feux)\b" + _FEU_NOT,
        acute=False,
    ),
    _cue(
        "le feu prend",
        "fire",
        r"\b(?:le|du|un) feu (?:a pris|a prit|prend|se propage|gagne|s etend|arrive|"
        r"se rapproche|repart|part|est dans|est chez|est au|est a|qui part|qui se propage|"
        r"qui arrive)\b",
        acute=True,
    ),
    _cue(
        "en feu",
        "fire",
        r"\b(?:est|sont|etait|tout|voiture|maison|immeuble) en feu\b|\ben flammes?\b"
        r"|\bfeux? (?:dans|chez|au|a la|a l|sur|partout)\b(?! (?:la|le|ma|sa|une|un|l|mon|"
        r"son|notre) (?:cheminee|poele|insert|barbecue|foyer|brasero|four|rouge|vert)\b)"
        r"(?! (?:rouge|vert|orange|tricolore|du carrefour|de l avenue|de la rue)\b)"
        r"|\ble feu s est declare\b|\b(?:depart|debut) (?:de feu|d incendie)\b"
        r"|\b(?:odeur de|sent le|sens le|ca sent le) (?:brule|crame|roussi)\b"
        r"|\b(?:plein|pleine|pleins|remplie?|envahie?) de flam+es\b",
        acute=False,
        not_before=r"\b(?:nid de poule|trou|passage pieton|radar|camera|panneau|attendre|"
        r"arrete|grille|stop|cuisson|cuire|faire cuire|bois|buches|allumer|allume|"
        r"entretenir|entretien|dossier|boite mail|mail|mails|telephone|standard|agenda|"
        r"planning|tete|cerveau|bouche|gorge|pieds|joues|visage|peux|puis je|peut on|"
        r"droit de)(?: [a-z]+){0,3}",
    ),
    _cue(
        "pris feu",
        "fire",
        r"\b(?:pris|prit|prend|prendre|prennent) feux?\b|\bmis le feu\b|\bmet le feu\b",
        acute=False,
    ),
    _cue(
        "flammes",
        "fire",
        r"\b(?:des|les|de grandes|grosses|hautes) flam+es?\b(?: [a-z]+){0,2} "
        r"(?:sortent|sort|sortir|partout|montent|monte|dans|sur|qui)\b"
        r"|\bflam+es? partout\b|\b(?:voit|vois|voyons|voient|apercoit|apercois) (?:des|les|"
        r"de grandes|de hautes) flam+es?\b",
        acute=True,
    ),
    _cue(
        "fumee",
        "fire",
        r"\bfumee (?:noire|epaisse|blanche epaisse|sort|sortent|qui sort|qui sortent|"
        r"partout|s echappe|envahit|monte|qui monte|dans (?:la|le|l|les|mon|ma|tout|toute))"
        r"|\b(?:plein|pleine|rempli|remplie|envahi|envahie|enfume|enfumee) de fumee\b"
        r"|\b(?:ca|sa|il|elle|toit|grenier|cuisine|conduit|moteur|prise|seche linge) fume\b",
        acute=True,
        not_before=r"\b(?:la|de la) fumee de (?:l|la|le|mon|son) (?:usine|barbecue|cheminee)",
    ),
    _cue(
        "ca brule",
        "fire",
        r"\b(?:ca|sa|tout) (?:brule|crame|flambe)\b(?! (?:les|la|le|aux|au|quand|un peu|pas|"
        r"les yeux|la gorge)\b)",
        acute=True,
    ),
    _cue(
        "x brule",
        "fire",
        r"\b{BURNABLE}\b(?: [a-z]+){0,3}(?<! a)(?<! ont)(?<! avait)(?<! avaient)(?<! ete)"
        r" (?:qui )?(?:brule|brulent|crame|crament|flambe|flambent|est en train de bruler|"
        r"sont en train de bruler|en train de bruler)\b",
        acute=True,
    ),
    _cue(
        "elle brule",
        "fire",
        r"\b(?:il|elle|ils|elles) (?:brule|brulent|crame|crament|flambe|flambent)\b"
        r"(?! de (?:fievre|envie|impatience))",
        acute=True,
        not_before=r"\b(?:fievre|front|peau|tete|gorge|plat|soupe|poele|casserole|cafe|the)"
        r"(?: [a-z]+){0,2}",
    ),
    _cue(
        "x a brule",
        "fire",
        r"\b{BURNABLE}\b(?: [a-z]+){0,3} (?:a|ont|vient de|viennent de) (?:brule|bruler|"
        r"crame|cramer|flambe|flamber)\b",
        acute=False,
    ),
    _cue(
        "incendie",
        "fire",
        r"\bincendie (?:dans|chez|au|aux|a la|a l|sur|en cours|rue|avenue|place|derriere|"
        r"devant|pres|au niveau|boulevard|chemin|route|impasse|allee|quartier|\d+)\b"
        r"|\bincendie(?= \.|\s*$)",
        acute=False,
        not_before=r"\b(?:exercice|alarme|detecteur|detecteurs|securite|risque|risques|"
        r"prevention|borne|bornes|bouche|bouches|poteau|poteaux|porte|portes|assurance|plan|"
        r"permis|consigne|consignes|commission|normes|norme|reglement|sinistre|declaration|"
        r"contre l|grand|apres l|suite a l|depuis l)(?: a| d| de l| contre l)?",
    ),
    _cue(
        "explosion",
        "fire",
        r"\b(?:une|grosse|forte|enorme|violente) explosion\b(?! (?:des|de la|du) "
        r"(?:tarifs|prix|factures|loyers|impots|couts|depenses|charges|taxes|demandes|"
        r"naissances|cas)\b)"
        r"|\bexplosion (?:de gaz|dans|chez|rue|au|a la|a l|en cours)\b"
        r"|\b(?:bouteille de gaz|chaudiere|transformateur|batterie|cocotte|ballon|cuve|"
        r"citerne|multiprise|compteur|gazinière|gaziniere|voiture|immeuble|usine) "
        r"(?:a |vient d |qui a )?explose\b",
        acute=False,
    ),
    _cue(
        "feu de x",
        "fire",
        r"\bfeu de (?:voiture|poubelle|poubelles|broussailles|broussaille|foret|herbe|champ|"
        r"maison|appartement|garage|cave|grange|camion|bus|scooter|cuisine|friteuse|"
        r"cheminee|paille|haie)\b",
        acute=False,
        not_before=r"\b(?:faire|allumer|interdiction|interdit|interdits|risque|risques|"
        r"prevention|lutte contre|contre les)(?: un| des| de| du| les| le)?",
    ),
    # ---- gas --------------------------------------------------------------------------
    _cue(
        "odeur de gaz",
        "gas",
        r"\b(?:odeurs?|sent|sens|sentons|sentent|pue|puent|relents?|sentir)(?: [a-z]+){0,3} "
        r"(?:le|du|de|d) ga[sz]\b",
        acute=True,
    ),
    _cue(
        "fuite de gaz",
        "gas",
        r"\bfuite?s? (?:de |d )?ga[sz]\b|\bga[sz] (?:qui )?(?:fuit|siffle|s echappe)\b"
        r"|\b(?:gaziniere|bouteille de gaz|conduite de gaz|canalisation de gaz|tuyau de gaz|"
        r"compteur de gaz|compteur gaz|cuve de gaz|citerne de gaz)(?: du barbecue)? "
        r"(?:vient d etre |a ete |est )?(?:fuit|siffle|percee|arrachee|cassee|touchee|"
        r"qui fuit|qui siffle)\b"
        r"|\b(?:perce|arrache|casse|touche) (?:une|la) (?:conduite|canalisation) de gaz\b",
        acute=False,
    ),
    _cue(
        "monoxyde",
        "poisoning",
        r"\bmonoxyde\b.{0,80}\b(?:mal a la tete|vertiges?|vomi\w*|nausees?|malaise|"
        r"sonne|bipe|intoxi\w*|evanoui)|\b(?:mal a la tete|vertiges?|vomi\w*|nausees?|"
        r"malaise|intoxication|intoxique\w*)\b.{0,80}\bmonoxyde\b"
        r"|\bdetecteur de (?:monoxyde|co|gaz)(?: de carbone)? (?:sonne|bipe|s est declenche)",
        acute=False,
    ),
    # ---- flood ------------------------------------------------------------------------
    _cue(
        "l eau monte",
        "flood",
        r"\b(?:l|leau|l eau de la riviere|la riviere|la crue|le niveau de l) ?eau "
        r"(?:lui |leur |nous |me |m )?(?:monte|montait|rentre|entre|envahit|penetre|submerge|"
        r"arrive (?:aux|a la|au|dans|jusqu|partout))\b|\bleau (?:monte|rentre|entre|envahit"
        r"|arrive)\b",
        acute=True,
        not_before=r"\bfuite",
    ),
    _cue(
        "emporte par le courant",
        "flood",
        r"\bemport\w* par (?:le courant|les eaux|l eau|la riviere|la crue|les vagues|"
        r"une vague|la mer|les flots)\b|\bemport\w* par\b.{0,20}\b(?:courant|eaux?|crue|"
        r"vagues?)\b",
        acute=True,
    ),
    _cue(
        "inonde",
        "flood",
        r"\b(?:maison|appartement|appart|rez de chaussee|camping|lotissement|quartier|"
        r"village|chambre|salon|chez (?:moi|nous|lui|elle|eux))(?: [a-z]+){0,2} "
        r"(?:est |sont |etait )?(?:en train d etre )?(?:inonde|inondee|inondes|inondees|"
        r"submerge|submergee|sous l eau)\b"
        r"|\binond\w* (?:chez (?:moi|nous)|en cours)\b|\binondation (?:chez|dans|en cours)\b",
        acute=False,
    ),
    _cue(
        "coince par l eau",
        "flood",
        r"\b(?:coince|coincee|coinces|coincees|bloque|bloquee|bloques|bloquees|piege|"
        r"piegee|pieges|piegees|refugie|refugiee|refugies|refugiees|prise?s?) "
        r"(?:par l eau|par les eaux|dans l eau|par la crue|sur le toit|a l etage|"
        r"sur (?:le|un) toit)\b|\bdigue (?:a cede|cede|a lache|lache|s est rompue)\b"
        r"|\bdans l eau avec\b|\bau milieu de l eau\b"
        r"|\b(?:crue|eau|riviere|courant|vague|vagues|torrent|flots) (?:emporte|emportent|"
        r"a emporte|ont emporte|entraine)\b|\b(?:des gens|des personnes|on est|nous sommes|"
        r"sont|refugies|refugiees) sur (?:le|les) toits?\b"
        r"|\bde l eau jusqu (?:aux|a la|au)\b|\b(?:est|sont) sous l eau\b"
        r"|\bsorti\w* de son lit\b",
        acute=True,
    ),
    # ---- violence ---------------------------------------------------------------------
    _cue(
        "me frappe",
        "violence",
        r"\b(?:me|m|nous) (?:frappe|frappent|frapper|frap|tape|tapent|bat|battent|tabasse|"
        r"tabassent|cogne|cognent|etrangle|etranglent|viole|violent|attaque|attaquent|"
        r"agresse|agressent|poignarde|gifle|giflent|brutalise|brutalisent|sequestre|"
        r"sequestrent|tire dessus|tirent dessus|etouffe|tap)\b(?! (?:sur les nerfs|sur le "
        r"systeme|a la porte))",
        acute=True,
        not_before=r"\b(?:ca|cela|ce dossier|cette|ce|loyer|augmentation|facture|prix|"
        r"travail|boulot|administration)(?: ne)?",
    ),
    _cue(
        "m a frappe",
        "violence",
        r"\b(?:m|nous|l|la|le) (?:a|ont) (?:encore |deja )?(?:frappe|frappee|frappes|frape|"
        r"gifle|giflee|etrangle|etranglee|tabasse|tabassee|battu|battue|poignarde|"
        r"poignardee|viole|violee|agresse|agressee|cogne|cognee|attaque|attaquee|enferme|"
        r"enfermee|sequestre|sequestree|menace de mort|menacee de mort|pousse dans|"
        r"poussee dans|pousse contre|poussee contre|mordu|mordue|brule|brulee|tape|tapee|"
        r"casse le bras|casse le nez)\b"
        r"|\b(?:je me suis fait|on s est fait|il s est fait|elle s est fait|vient de se faire|"
        r"viens de me faire|me suis fait) (?:agresser|tabasser|poignarder|frapper|attaquer|"
        r"violer|braquer|tirer dessus|planter)\b"
        r"|\bvient de (?:me|nous|la|le|l) (?:frapper|pousser|gifler|etrangler|poignarder|"
        r"agresser|attaquer|violer|tabasser)\b"
        r"|\b(?:se|me|te|nous) (?:fait|font|fais|faisons|faire) (?:agresser|tabasser|frapper|"
        r"attaquer|violer|braquer|poignarder|lyncher|tirer dessus|taper dessus)\b"
        r"|\b(?:battu|battue|battus|frappe|frappee|tabasse|tabassee|violee|agressee|"
        r"etranglee|sequestree|menacee|brutalisee) par (?:mon|ma|son|sa|un|une|des|le|la|"
        r"les|leur|notre|deux|plusieurs)\b"
        r"|\b(?:je suis|je subis|je vis|subis|victime de) (?:des )?violences? (?:conjugales?|"
        r"de mon|de ma|familiales?|a la maison)\b"
        r"|\b(?:mari|conjoint|compagnon|copain|ex|femme|compagne|copine|pere|beau pere) "
        r"(?:est|devient|est devenu|redevient) (?:tres )?violent\w*\b",
        acute=False,
        not_before=r"\b(?:chien|chat|serpent|guepe|frelon|tique|moustique)(?: [a-z]+){0,2}",
    ),
    _cue(
        "a ete agresse",
        "violence",
        r"\b(?:ai|a|avons|ont|avez|as) ete (?:agresse|agressee|agresses|attaque|attaquee|"
        r"frappe|frappee|poignarde|poignardee|viole|violee|tabasse|tabassee|braque|braquee|"
        r"etrangle|etranglee|sequestre|sequestree|menace de mort|menacee de mort|battu|"
        r"battue)\b",
        acute=False,
    ),
    _cue(
        "frappe quelqu un",
        "violence",
        r"\b(?:frappe|frappent|frapper|tabasse|tabassent|tabasser|agresse|agressent|agresser|"
        r"attaque|attaquent|attaquer|poignarde|poignarder|viole|violer|etrangle|etrangler|"
        r"cogne|cognent|tape sur|tapent sur|taper sur|bat|battent|battre|lynchent|lyncher)"
        r" (?:une|un|des|la|le|les|sa|son|ses|quelqu un|ma|mon|mes|sur|leur|leurs|deux|"
        r"plusieurs)\b(?! (?:son plein|record|records|porte|portes|la porte|le tapis|"
        r"la mesure|des mains|en retraite|monnaie|la campagne)\b)"
        r"|\b(?:la|le|les|l) (?:frappe|frappent|bat|battent|tabasse|tabassent|tape|tapent|"
        r"etrangle|etranglent|cogne|cognent|viole|violent|secoue|secouent|brutalise|"
        r"poignarde|poignardent|agresse|agressent|maltraite|maltraitent)\b(?! (?:a la porte|"
        r"sur les nerfs)\b)",
        acute=True,
        not_before=r"\b(?:balle|ballon|vagues?|pluie|grele|vent|soleil|froid|qui|"
        r"comment|pour)(?: [a-z]+){0,1}",
    ),
    _cue(
        "en train de frapper",
        "violence",
        r"\ben train de (?:frapper|tabasser|agresser|battre|violer|cambrioler|poignarder|"
        r"taper sur|se battre|etrangler|lyncher|voler|braquer|forcer)\b"
        r"|\b(?:des cris et des coups|des coups et des cris|bruits? de coups|entends des "
        r"coups|des coups contre)\b|\bse (?:battent|bat|bagarrent|bagarre|frappent|"
        r"tapent dessus)\b(?! (?:pour|contre l administration|avec l administration)\b)"
        r"|\b(?:bagarre|rixe|baston) (?:avec|au couteau|generale|devant|dans|en cours)\b"
        r"|\bil y a une (?:bagarre|rixe)\b",
        acute=True,
        not_before=r"\b(?:enfants|freres|soeurs|chats|chiens)(?: [a-z]+){0,2}",
    ),
    _cue(
        "coups",
        "violence",
        r"\b(?:me|m|lui|la|le|les|nous|l) (?:donne|donner|donnait|a donne|ont donne|met|mettre|"
        r"a mis|ont mis|porte|a porte) (?:des )?coups\b|\bcoups? de (?:poing|poings|pied|pieds|"
        r"tete|batte|marteau|barre)\b(?! (?:au|dans le|dans la) (?:sac|cours|club|fourmiliere)"
        r"\b)|\b(?:recu|recois|prend|pris) des coups\b",
        acute=False,
    ),
    _cue(
        "arme",
        "violence",
        r"\b(?:homme|homme|individu|type|mec|gars|personne|quelqu un|inconnu|voisin|jeune|"
        r"jeunes|bande|ils|il|elle|hommes|individus|types|mecs) (?:est |sont )?(?:arme|"
        r"armes|armee)\b(?! (?:de chasse|blanche|a feu (?:trouvee|heritee)))"
        r"|\b(?:il|elle|ils|homme|type|mec|individu|gars|quelqu un) (?:a|ont|porte|"
        r"portent|tient|tiennent|sort|sortent|a sorti|ont sorti|brandit|brandissent|pointe|"
        r"pointent|braque|braquent|sorti) (?:un|une|son|sa|des|ses|leur|leurs) {WEAPON}\b"
        r"|\b(?:sorti|sort|sortir|brandit|brandi|pointe|braque) (?:un|une|son|sa|des|ses) "
        r"{WEAPON}\b"
        r"|\b(?:avec|armes? d|arme d|sous la menace d) (?:un|une|des|son|sa|ses|leur|leurs)"
        r" {WEAPON}\b|\b{WEAPON} (?:sous|sur|contre) (?:la|ma|sa|ta) (?:gorge|tempe|tete|"
        r"ventre|dos|cou)\b",
        acute=False,
        not_before=r"\b(?:transporter|declarer|acheter|vendre|ranger|chasser|chasse|"
        r"chasseurs?|tir|peut on|faut il|police municipale|policiers|gendarmes|agents|"
        r"gardiens|vigiles)(?: [a-z]+){0,4}",
    ),
    _cue(
        "coups de feu",
        "violence",
        r"\bcoups? de (?:feu|fusil|pistolet|couteau|poing dans)\b|\bdes tirs\b|\bfusillade\b"
        r"|\b(?:on|ca|ils|il) (?:tire|tirent) (?:sur|en l air|partout|dans|dessus)\b"
        r"|\b(?:tire|tirent) sur (?:les|des|nous|moi|quelqu un|la|le|un|une)\b"
        r"|\b(?:tirer|tire|tirent|tirait) sur (?:un|une|des|le|la|les|mon|ma|son|sa)? ?"
        r"(?:{PERSON}|gens|passants|policiers?|foule)\b"
        r"|\b(?:on|ca|ils|il) tire(?:nt)?\b(?= \.|\s*$)|\bpoignard\w*\b|\begorg\w*\b",
        acute=False,
    ),
    _cue(
        "menace de mort",
        "violence",
        r"\bmenace\w* (?:de mort|de (?:me|te|nous|la|le|les|l|vous|lui|leur)? ?(?:tuer|buter|"
        r"frapper|egorger|planter|poignarder|bruler|cramer|defoncer|massacrer|etrangler|"
        r"tirer|faire du mal|faire mal|tabasser)|de mettre le feu|avec (?:un|une|son|sa|des)"
        r" {WEAPON})\b"
        r"|\b(?:il|elle|ils|on|{PERSON}) (?:(?:m |me )?a |me )?(?:veut|va|vont|veulent|"
        r"voulait|allait|voulaient) (?:me|nous|la|le|te|les|l|vous) (?:tuer|buter|egorger|"
        r"planter|poignarder|frapper|faire du mal)\b"
        r"|\bdit qu (?:il|elle) (?:va|allait|vas|vais) (?:me|nous|la|le|te|les|l) tuer\b"
        r"|\b(?:me|nous|la|le|te|les|l) (?:tuera|tuerai|tuerais|tuerait|tueront|butera)\b"
        r"|\b(?:me|nous) menacen?t?\b(?= (?:\.|,|et|avec|encore|de mort)\b|\s*$)"
        r"|\bmenacen?t? (?:les|des|une|un|la|le|tout le monde) (?:passants|gens|clients|"
        r"personnes|monde|caissiere|caissier|vendeur|vendeuse|enfants|femme|homme|eleves|"
        r"voyageurs|employes)\b",
        acute=False,
    ),
    _cue(
        "me suit",
        "violence",
        r"\b(?:me|nous) (?:suit|suivent|poursuit|poursuivent|court apres|courent apres)\b"
        r"(?! sur (?:les reseaux|instagram|facebook|twitter|tiktok))"
        r"|\bsuivie? par (?:un|une|des|deux|plusieurs) (?:homme|hommes|inconnu|inconnus|"
        r"individu|individus|type|types|mec|mecs|gars|voiture)\b",
        acute=True,
    ),
    _cue(
        "effraction",
        "violence",
        r"\b(?:essaie|essaye|essayent|essaient|tente|tentent|en train|essayer) (?:d|de) "
        r"(?:entrer|rentrer|forcer|ouvrir|casser|fracturer|penetrer|defoncer)\b"
        r"|\b(?:force|forcent|fracture|fracturent|defonce|defoncent|en train de casser) "
        r"(?:la|ma|notre|une|leur|sa) (?:porte|fenetre|serrure|baie vitree|vitre)\b"
        r"|\b(?:quelqu un|un inconnu|des gens|un homme|des hommes|des individus|un individu)"
        r"(?: qui)? (?:est |sont )?(?:entre|entres|rentre|rentres|dans|chez) (?:chez moi|"
        r"chez nous|dans (?:ma|la|notre) maison|dans mon (?:appartement|appart|jardin|garage)|"
        r"dans l appartement)\b"
        r"|\b(?:cambrioleurs?|voleurs?|intrus) (?:sont|est) (?:encore |toujours )?(?:la|dans|"
        r"chez|en train)\b|\bcambriol\w* en cours\b|\bon me cambriole\b"
        r"|\b(?:il y a|y a|ya) (?:un|des|une) (?:cambrioleurs?|voleurs?|intrus|inconnus?|"
        r"inconnue|hommes?|individus?|gens|personnes?|mecs?|types?) (?:cagoules? )?(?:dans|chez)"
        r" (?:ma|mon|la|notre|moi|nous|l)\b|\bbraquage\b|\bbraque\w* (?:la|le|une|un)\b"
        r"|\bprise? d otages?\b|\b(?:pris|prise|pris) en otages?\b|\battentat\b"
        r"|\bterroristes?\b|\bcolis suspect\b|\balerte a la bombe\b",
        acute=True,
    ),
    _cue(
        "sequestre",
        "violence",
        r"\b(?:m|nous) empeche de (?:sortir|partir|appeler|m enfuir)\b|\bsequestr\w*\b"
        r"|\b(?:m|nous) (?:a|ont) enferme\w*\b",
        acute=False,
    ),
    _cue(
        "enlevement",
        "child",
        r"\b(?:{PERSON}) (?:a ete |est |vient d etre |s est fait |s est fait )?(?:enleve|enlevee|"
        r"enleves|kidnappe|kidnappee|kidnappes|enlever|kidnapper)\b"
        r"|\b(?:enlever|kidnapper|enleve|kidnappe|enlevent|kidnappent) (?:mon|ma|mes|un|une|"
        r"le|la|les|des|notre|nos|son|sa|ses) {CHILD}\b|\b(?:enlevement|kidnapping|rapt) "
        r"(?:d enfant|d un enfant|de mon|de ma|en cours)\b"
        r"|\bfaire monter (?:des|un|une|les|la|le) {CHILD}\b"
        r"|\b(?:parti|partie|emmene|emmenee|emmenes) (?:avec|par) (?:un|une) (?:adulte|"
        r"inconnu|inconnue|homme|individu)\b",
        acute=False,
        not_before=r"\b(?:ramassage|collecte|service|camion|l|d)(?: [a-z]+){0,1}",
    ),
    # ---- medical ----------------------------------------------------------------------
    _cue(
        "ne respire plus",
        "medical",
        r"\b(?:ne |n )?respir(?:e|er|ent)? (?:presque |quasiment |quasi |pratiquement )?"
        r"(?:plus|pas|mal|difficilement|tres mal|bizarrement|avec difficulte|tres fort|fort|"
        r"a peine|tres vite|de travers)\b"
        r"|\b(?:arrive|arrivent|peut|peux|parvient|parviens|arrivons) (?:plus|pas) a "
        r"respirer\b|\b(?:du|beaucoup de) mal a respirer\b|\bdifficultes? a respirer\b"
        r"|\b(?:s|j|il|elle|bebe|bb) (?:etouffe|etouffent|suffoque|suffoquent)\b"
        r"|\bs etouffe\w*\b|\bpeux plus respirer\b|\bpeut plus respirer\b",
        acute=True,
    ),
    _cue(
        "inconscient",
        "medical",
        r"\binconscient\w*\b|\bperdu connaissance\b|\bperd connaissance\b"
        r"|\bsans connaissance\b|\b(?:ne |n )?(?:se )?reveille (?:plus|pas)\b"
        r"|\b(?:ne |n )?reagit (?:plus|pas)\b|\bevanoui\w*\b|\bs est evanoui\w*\b"
        r"|\btombe\w* dans les pommes\b|\b(?:ne |n )?bouge (?:plus|pas)\b(?! de chez)"
        r"|\bne revient pas a (?:elle|lui)\b|\b(?:tout|toute|devient|devenu|devenue) bleue?\b"
        r"|\blevres? bleues?\b|\b(?:ne |n )?(?:dit|parle) plus (?:rien|du tout)\b",
        acute=True,
        not_before=r"\b(?:c est|cest|serait|etre|vraiment|completement|si|une personne|"
        r"quelqu un d|ma voiture|la voiture|le bus|rien|ca|cela|le dossier|la ligne)",
    ),
    _cue(
        "ne repond plus",
        "medical",
        r"\b(?:{PERSON})(?: [a-z0-9]+){0,4} (?:ne |n )?repond (?:plus|pas)\b(?! (?:a mes|a nos|"
        r"a mon|a ma|aux|a la demande|au courrier)\b)",
        acute=True,
        not_in_text=r"\b(?:personne ne repond|proprietaire|mairie|service|administration|"
        r"syndic|bailleur|agence|standard|secretariat|urbanisme|caf|artisan|entreprise|"
        r"plombier|notaire|maire|assureur|banque)\b",
    ),
    _cue(
        "effondre",
        "medical",
        r"\bs (?:est )?(?:effondre|effondree|effondres|effondrees|ecroule|ecroulee|ecroules|"
        r"ecroulees)\b|\b(?:vient|viens|viennent) de s (?:effondrer|ecrouler|evanouir)\b"
        r"|\b(?:{PERSON}) (?:est |reste |git )?(?:allonge |allongee |etendu |"
        r"etendue )?(?:par terre|au sol|inanime|inanimee|a terre)\b"
        r"|\bpar terre (?:et )?(?:il |elle )?(?:ne |n )?(?:repond|bouge|respire|reagit)\b"
        r"|\b(?:ne |n )?(?:se )?(?:releve|relever|lever) (?:pas|plus)\b"
        r"|\b(?:peut|peux|arrive|n arrive) (?:plus|pas) (?:a )?se relev\w*\b"
        r"|\b(?:ne peut|ne peux|peut|peux|n arrive|arrive) (?:plus|pas) (?:a )?(?:se "
        r"relever|se lever|bouger|me relever|me lever|la relever|le relever|les relever)\b",
        acute=True,
        not_before=r"\b(?:prix|tarifs|marche|bourse|moral|plafond|toit|mur|pont|immeuble|"
        r"menace de)(?: [a-z]+){0,1}",
    ),
    _cue(
        "chute",
        "medical",
        r"\b(?:tombe|tombee|tombes|tombees|chute) (?:de|du|des|d) (?:l |la |le |les |un |une "
        r"|son |sa )?(?:echelle|toit|echafaudage|escabeau|fenetre|balcon|arbre|cheval|"
        r"premier etage|deuxieme etage|etage|escalier|escaliers|falaise|pont|mur|"
        r"trampoline|table a langer|lit superpose)\b"
        r"|\bfait une (?:grosse |mauvaise )?chute\b|\btombe\w* (?:d un coup|raide|en arriere)"
        r"|\b(?:est|sont) tombe\w* dans l escalier\b",
        acute=False,
    ),
    _cue(
        "crise cardiaque",
        "medical",
        # "avc" is also SMS for "avec" ("avc ma copine"): the stroke is "un avc", "l avc",
        # or "avc" not followed by the words that follow "avec".
        r"\b(?:crise|arret) cardiaque\b|\binfarctus\b|\battaque cerebrale\b"
        r"|\b(?:un|l|d|son|mon|ton|grave|petit) avc\b|\bavc\b(?! (?:ma|mon|mes|ta|ton|tes|sa"
        r"|son|ses|notre|nos|votre|vos|leur|leurs|les|une|des|moi|toi|lui|eux|nous|vous|ce"
        r"|cette|ces|du|mes)\b)"
        r"|\bbouche (?:de travers|tordue)\b|\bvisage (?:paralyse|de travers|qui tombe|tordu)\b"
        r"|\bparalyse\w* d un cote\b|\bparle bizarrement\b|\b(?:n arrive|ne peut|ne peux) "
        r"(?:plus|pas) (?:a )?(?:parler|lever le bras|bouger le bras)\b",
        acute=False,
    ),
    _cue(
        "malaise",
        "medical",
        r"\b(?:fait|fais|faire|eu|a) (?:un |une )?(?:gros |grave )?(?:malaise|syncope)\b"
        r"|\bmalaise (?:cardiaque|grave)\b",
        acute=False,
    ),
    _cue(
        "mal a la poitrine",
        "medical",
        r"\b(?:mal|douleur|douleurs|serre|serrement|oppression|ecrase\w*) (?:a|dans|sur|au "
        r"niveau de|de) la poitrine\b|\bpoitrine (?:qui )?(?:serre|brule|fait mal)\b"
        r"|\bdouleur\w* dans le bras gauche\b|\bmal (?:au|dans le) (?:thorax|bras gauche)\b",
        acute=False,
    ),
    _cue(
        "saigne",
        "medical",
        r"\bsaign\w* (?:beaucoup|enormement|abondamment|abondament|de partout|fort|"
        r"sans arret|a la tete|du crane|de la tete|grave|trop|bcp|comme un|tres fort|"
        r"de la bouche|des oreilles)\b|\bperd (?:beaucoup de |enormement de |tout son )?"
        r"(?:son )?sang\b|\bhemorrag\w*\b|\bdu sang partout\b|\bpisse le sang\b"
        r"|\bplein de sang\b|\bbaigne dans son sang\b"
        r"|\b(?:je|il|elle|qui|ils|elles) saignen?t?\b(?! (?:souvent|du nez|des gencives|un peu|"
        r"legerement|parfois)\b)",
        acute=True,
    ),
    _cue(
        "blessure",
        "medical",
        r"\bs est (?:ouvert|ouverte|coupe|coupee|tranche|tranchee|sectionne|sectionnee|"
        r"arrache|arrachee|empale|empalee) (?:la|le|les|un|une) (?:main|doigt|doigts|bras|"
        r"jambe|tete|pied|arcade|poignet|gorge|ventre|cuisse|veine)\b|\bsectionn\w*\b"
        r"|\bcoupe\w* avec (?:la|une) (?:tronconneuse|scie|hache|meuleuse|disqueuse)\b"
        r"|\b(?:s est|me suis|je me suis) (?:brule|brulee|ebouillante|ebouillantee) "
        r"(?:gravement|grave|tres fort|au visage|au troisieme degre|partout|avec)\b"
        r"|\bbrulure\w* (?:grave|graves|profonde|profondes|etendue|au troisieme degre)\b"
        r"|\bfracture ouverte\b|\bos qui sort\b|\bempale\w*\b",
        acute=False,
    ),
    _cue(
        "blesse",
        "medical",
        r"\b(?:il y a|y a|ya) (?:un|une|des|plusieurs|deux|trois) (?:[a-z]+ )?bless\w*\b"
        r"|\b(?:un|des|plusieurs) bless\w* (?:grave|graves|par terre|au sol|dans|sur|ici|la)\b"
        r"|\b(?:s est|me suis|je me suis|se sont) casse\w* (?:la|le|les) (?:jambe|bras|"
        r"cheville|hanche|col du femur|dos|nuque|cou|colonne|bassin)\b"
        r"|\bhypoglycemi\w*\b|\bfait une hypo\b|\bmordu\w* par (?:un|une) (?:vipere|"
        r"serpent)\b|\b(?:cogne|tape|frappe) (?:la|sa) tete\b.{0,40}\b(?:vomi\w*|somnol\w*|"
        r"inconscient\w*|saign\w*|ne repond)\b|\btraumatisme cranien\b"
        r"|\ben train de mourir\b|\baccouche\b(?= \.|\s*$)",
        acute=False,
    ),
    _cue(
        "convulsions",
        "medical",
        r"\bconvuls\w*\b|\bconvult\w*\b|\bcrise d (?:epilepsie|asthme)\b"
        r"|\b(?:fait|fais) une (?:grosse |violente )?crise\b(?! (?:de nerfs|d angoisse|"
        r"de panique|de colere|de jalousie))",
        acute=False,
    ),
    _cue(
        "accouchement",
        "medical",
        r"\ben train d accoucher\b|\baccouche (?:a la maison|dans|maintenant|la|chez)\b"
        r"|\bperdu les eaux\b|\bpoche des eaux (?:a )?(?:perce|rompu)\b"
        r"|\bcontractions (?:toutes les|rapprochees|tres)\b|\ble bebe (?:arrive|sort|va sortir)\b"
        r"|\bla tete du bebe\b|\bva accoucher (?:ici|maintenant|dans)\b",
        acute=True,
    ),
    _cue(
        "overdose",
        "medical",
        r"\b(?:overdose|surdose)\b|\belectrocut\w*\b|\bchoc anaphylactique\b"
        r"|\boedeme de quincke\b|\breaction allergique (?:grave|severe|forte|en cours)\b"
        r"|\bfait une reaction allergique\b|\b(?:visage|gorge|langue|levres|yeux|bouche|"
        r"cou) (?:qui )?(?:gonfle|gonflent|enfle|enflent)\b|\b(?:gonfle|enfle) de partout\b"
        r"|\b(?:40|41|42) (?:de |degres de )?fievre\b|\bfievre (?:a|de) (?:40|41|42)\b"
        r"|\burgence vitale\b|\bdanger de mort\b|\bcoma\b|\bdetresse respiratoire\b",
        acute=False,
    ),
    _cue(
        "accident avec blesses",
        "medical",
        r"\baccident\b.{0,80}\b(?:blesse|blesses|blessee|blessees|victime|victimes|sang|"
        r"coince|coincee|coinces|incarcere|incarceree|par terre|inconscient\w*|ne bouge|"
        r"sur le toit|renverse\w*|ejecte\w*)\b|\b(?:blesse|blesses|blessee|blessees|"
        r"victimes)\b.{0,80}\baccident\b"
        r"|\b(?:il y a|y a|ya|vient d y avoir) un (?:gros |grave )?accident\b"
        r"|\b(?:renverse|renversee|renverses|percute|percutee|fauche|fauchee|heurte|heurtee)"
        r" par (?:un|une|le|la) (?:voiture|camion|bus|scooter|moto|velo|vehicule|tracteur|"
        r"train|tram|car|chauffard|automobiliste)\b|\bse faire (?:renverser|percuter|faucher)\b"
        r"|\bs est fait (?:renverser|percuter|faucher)\b",
        acute=False,
        not_before=r"\b(?:chat|chien|chienne|chaton|chiot|cheval|animal|renard|herisson|"
        r"oiseau|chevreuil|sanglier|lapin|biche|borne|poteau|mur|muret|lampadaire|panneau|"
        r"barriere|feu|abribus|potelet|portail|candelabre|arbre|vitrine|facade|cloture|"
        r"poubelle|glissiere|pile|pont|voiture|camionnette|velo|scooter)(?: [a-z]+){0,4}",
    ),
    # ---- poisoning --------------------------------------------------------------------
    _cue(
        "a avale un toxique",
        "poisoning",
        r"\b(?:avale|avalee|avaler|avalait|bu|boit|bois|mange|mangee|manger|ingere|"
        r"ingurgite|lech\w*|croque|croquer|inhale|respire|mis dans sa bouche|mordu dans|"
        r"goute|sniffe|pris|consomme)(?: [a-z]+){0,4} {TOXIC}\b"
        r"|\b(?:avale|avalee|avaler|avalait|pris|prise|prendre|bu|mange|ingere) (?:de la |du "
        r"|des |de l |une |un |d |plusieurs |trop de |plein de |beaucoup de |\d+ |dix |vingt "
        r"|une dizaine de |toute la boite de |toute une boite de |une boite de |une plaquette "
        r"de |la plaquette de )(?:[a-z]+ ){0,2}{MEDS}\b"
        r"|\b(?:dix|vingt|deux|trois|\d+) fois (?:sa|la|ma|leur) dose\b"
        r"|\b(?:avale|avalee|mange|bu|ingere) (?:quelque chose|un truc|un objet|n importe quoi)"
        r" (?:de )?(?:toxique|dangereux|bizarre)?",
        acute=False,
        not_before=r"\b(?:chat|chien|chienne|chaton|chiot|cheval|animal|lapin)(?: [a-z]+){0,3}",
    ),
    _cue(
        "intoxication",
        "poisoning",
        r"\b(?:s est|se sont|me suis|nous sommes) (?:intoxique\w*|empoisonne\w*)\b"
        r"|\bintoxication (?:au|a la|aux|par|en cours)\b|\bintoxique\w* (?:au|a la|aux|par|"
        r"avec)\b|\bempoisonnement\b|\bempoisonne\w* (?:au|a la|par|avec)\b",
        acute=False,
        not_before=r"\b(?:chat|chien|chienne|chaton|chiot|cheval|animal)(?: [a-z]+){0,3}",
    ),
    _cue(
        "ne se reveille pas apres avoir bu",
        "poisoning",
        r"\b(?:trop|beaucoup|enormement) bu\b.{0,60}\b(?:ne |n )?(?:se )?(?:reveille|"
        r"reagit|repond|bouge) (?:plus|pas)\b",
        acute=True,
    ),
    # ---- suicide ----------------------------------------------------------------------
    _cue(
        "suicide",
        "suicide",
        r"\b(?:me|se|te|nous) suicid\w*\b|\bidees? (?:suicidaires?|noires)\b"
        r"|\bpensees? suicidaires?\b|\bpense (?:au|a me|a se) suicid\w*\b"
        r"|\btentative de suicide\b|\benvie de (?:mourir|me tuer|disparaitre|en finir)\b"
        r"|\b(?:veux|veut|voudrais|voudrait|vais|va) mourir\b(?! (?:d ennui|de faim|de rire|"
        r"de chaud|de froid|de honte|de peur)\b)"
        r"|\b(?:plus|pas) (?:envie|la force|le courage) de vivre\b"
        r"|\b(?:ne |n )?(?:veux|veut) plus (?:vivre|etre la|exister)\b"
        r"|\bmarre de (?:la vie|vivre)\b|\b(?:en )?peux plus de (?:vivre|la vie|cette vie)\b"
        r"|\bmettre fin a (?:mes|ses|tes|ma|sa|leurs) (?:jours|vie)\b"
        r"|\b(?:me|se|te) (?:foutre|fiche) en l air\b"
        r"|\b(?:je|j) (?:vais|veux|voudrais|pense a|pense|ai envie de|compte|vais finir par|"
        r"dois) (?:me tuer|me pendre|sauter|me jeter|m ouvrir les veines)\b"
        r"|\b(?:me|se) (?:pendre|jeter (?:sous|du|d un|par|dans|de la|de))\b"
        r"|\b(?:va|vais|veut|veux|menace de) sauter\b|\bsauter (?:du|d un|de la|par la) "
        r"(?:pont|fenetre|balcon|toit|immeuble|falaise|viaduc)\b"
        r"|\b(?:lettre|message|mot|mots|lettres|messages) d adieu\b"
        r"|\bpersonne ne (?:me regrettera|va me regretter)\b|\bscarifi\w*\b"
        r"|\bvie n a plus (?:de|aucun) sens\b"
        r"|\b(?:va|veut|voulait|allait|vont|veulent|voudrait|compte) se "
        r"(?:tuer|suicider|pendre|jeter|foutre en l air|faire du mal)\b"
        r"|\b(?:parle|parlent|menace|menacent) de (?:se tuer|mourir|se pendre|en finir)\b"
        r"|\bm ouvrir les veines\b|\bpreparer? une corde\b"
        r"|\bpour (?:mourir|me tuer|en finir|me suicider|me pendre)\b"
        r"|\b(?:veux|vais|voudrais) disparaitre\b(?! (?:des|de la|du|de) )"
        r"|\bdisparaitre pour toujours\b|\bidees? de mort\b"
        r"|\bje ne vois (?:plus|pas|aucune) (?:d )?(?:issue|solution|raison de vivre)\b"
        r"|\bplus (?:aucune )?raison de vivre\b",
        acute=True,
        not_before=r"\b(?:prevention du|prevention|journee|conference|groupe|deuil apres un)"
        r"(?: [a-z]+){0,1}",
    ),
    _cue(
        "en finir",
        "suicide",
        r"\ben finir\b(?! avec(?! (?:la vie|ma vie|sa vie|cette vie|tout|moi|mes jours|"
        r"l existence|tout ca)\b))",
        acute=True,
        not_before=r"\b(?:comment|pour|veut|voudrait|faudrait|faut)",
    ),
    _cue(
        "overdose volontaire",
        "suicide",
        r"\b(?:j ai|j|a|il a|elle a) (?:pris|avale|avalee) (?:toute|tous|toutes|une boite "
        r"entiere|la boite|toute la boite|toute une boite|une plaquette entiere)(?: [a-z]+)"
        r"{0,3} {MEDS}\b|\b(?:boite|plaquette) entiere de {MEDS}\b",
        acute=False,
    ),
    # ---- a person in danger now -------------------------------------------------------
    _cue(
        "au secours",
        "danger",
        r"\b(?:au|o) secours?\b|\ba l aide\b(?! (?:de|d|du|des|a|au|aux|pour|financiere|"
        r"sociale|juridictionnelle|alimentaire|personnalisee|au logement)\b)"
        r"|^ (?:sos|aidez moi|aidez nous|aide moi|a l aide|secours)(?: s il vous plait"
        r"| s il te plait| vite)? (?:\. )?$|\bsos\b(?= \.|\s*$)|^ sos\b"
        + _SOS_NOT
        + r"|\bhelp\b(?: [a-z]+){0,3} (?:au secours|vite|urgence|danger|aidez)\b",
        acute=True,
        not_in_text=_ADMIN_HELP,
    ),
    _cue(
        "aidez moi vite",
        "danger",
        r"\baide[zr]? (?:moi|nous)\b(?: [a-z]+){0,3} (?:vite|urgent|urgence|danger)\b"
        r"|\bvite\b(?: [a-z]+){0,2} aide[zr]? (?:moi|nous)\b|\bvenez vite\b|\bvite vite\b"
        r"|\bvenir vite\b|^ (?:c est )?(?:une )?urgence(?: vite)? (?:\. )?$"
        r"|^ c est une urgence(?: s il vous plait)? (?:\. )?$|\bc est tres grave\b",
        acute=True,
        not_in_text=_ADMIN_HELP,
    ),
    _cue(
        "appelez les secours",
        "danger",
        r"\b(?:appelez|appeler vite|appelle|prevenez|envoyez|envoyer|envoie|faites venir|"
        r"il faut|il me faut|il nous faut|besoin d|besoin de|besoin des|besoin du|faut) "
        r"(?:les |le |la |une |un |des |du )?(?:pompiers|secours|samu|police|gendarmes|"
        r"gendarmerie|ambulance|ambulances|15|17|18|112|smur|helico|helicoptere)\b",
        acute=True,
        not_before=r"\b(?:comment|pourquoi|faut il|doit on|dois je|quand|si|apprendre a|"
        r"apprendre a mon enfant a|qui)(?: [a-z]+){0,3}",
    ),
    _cue(
        "en danger",
        "danger",
        r"\b(?:je suis|on est|nous sommes|je me sens|je me sentais)(?: vraiment| tres)? "
        r"(?:en grand |en )danger\b|\b(?:{PERSON})(?: [a-z0-9]+){0,3} (?:est|sont) "
        r"(?:en grand |en )danger\b(?! de (?:perdre|ne pas|rater|manquer))",
        acute=True,
    ),
    _cue(
        "coince",
        "danger",
        r"\b(?:coince|coincee|coinces|coincees|bloque|bloquee|bloques|bloquees|piege|piegee|"
        r"pieges|piegees|enseveli|ensevelie|ensevelis|prisonnier|prisonniere|enferme|"
        r"enfermee|enfermes) (?:sous|dans (?:l ascenseur|un ascenseur|les decombres|la "
        r"tranchee|la voiture|sa voiture|leur voiture|une voiture|la maison|leur maison|sa "
        r"maison|leurs maisons|leurs voitures|leurs caravanes|la caravane|la boue|sa cave|"
        r"la cave|le sous sol|sa cave inondee|"
        r"la falaise|le puits|la neige|la glace|"
        r"une grotte|la grotte|un puits|un trou|le trou|la cave|un congelateur|une "
        r"machine)|par (?:les flammes|le feu|la fumee)|sur (?:la falaise|la glace|une "
        r"corniche|une paroi))\b|\bpris au piege\b|\bsous les decombres\b|\bensevel\w*\b",
        acute=True,
    ),
    _cue(
        "quelqu un dedans",
        "danger",
        r"\b(?:il y a |y a )?(?:quelqu un|des gens|des personnes|du monde|des blesses|"
        r"(?:un|une|le|la|sa|son|ses|leur|leurs|mon|ma|mes|des) {PERSON}) (?:est |"
        r"sont |coince |coinces |coincee )?(?:dedans|a l interieur|dessous|en dessous|sous "
        r"les decombres|sous la voiture)\b",
        acute=True,
    ),
    _cue(
        "tombe dans l eau",
        "danger",
        r"\btombe\w* (?:dans|sur) (?:le|la|les|l|un|une) (?:riviere|canal|lac|puits|rails|"
        r"voie|voies|eau|piscine|mer|seine|loire|fleuve|etang|trou|ravin|precipice|fosse|"
        r"bassin|ruisseau|port|quai|torrent|gouffre|citerne|silo)\b"
        r"|\b(?:{PERSON})(?: [a-z0-9]+){0,3} (?:est |sont )?tombe\w* a l eau\b"
        r"|\b(?:perdu|perdue|perdus|perdues) (?:en|dans la|dans les|dans le) (?:foret|"
        r"montagne|bois|neige|mer|grotte)\b"
        r"|\bse noi\w*\b|\ben train de (?:se )?noyer\b|\ben train de couler\b|\bn a plus pied\b"
        r"|\b(?:la glace|l etang|le lac) (?:qui )?craque\b|\bsous la glace\b"
        r"|\b(?:mur|balcon|toit|plafond|chapiteau|tribune|echafaudage|immeuble|batiment|"
        r"arbre|grue|pont|escalier) (?:s est |vient de s |est )?(?:effondre|ecroule|tombe)"
        r" (?:sur|dans) (?:(?:des|un|une|le|la|les|l|mon|ma|sa|son|ses|nos) )?(?:{PERSON}|"
        r"public|gens|passants|spectateurs|foule|voiture occupee)\b",
        acute=True,
        not_before=r"\b(?:peur de|apprendre a|risque de|comment|eviter de)(?: [a-z]+){0,1}",
    ),
    _cue(
        "disparu",
        "danger",
        r"\b(?:mon|ma|notre|son|sa|nos|leur|mes) (?:{PERSON})(?: [a-z0-9]+){0,5} (?:a disparu|"
        r"ont disparu|est introuvable|sont introuvables|a fugue|n est pas rentree?|"
        r"ne repond pas au telephone|ne repond plus au telephone|ne repond plus depuis|"
        r"ne repond pas depuis)\b(?! (?:des|de la|du|de) (?:listes?|fichiers?|registres?|"
        r"photos?|ecrans?|radar|site|boite))",
        acute=True,
        not_in_text=r"\b(?:listes? electorales?|objets? trouves?)\b",
    ),
    _cue(
        "desoriente",
        "danger",
        r"\bdesorient\w*\b.{0,80}\b(?:parti|partie|disparu|disparue|sorti|sortie|fugue|"
        r"introuvable|dehors|erre|il fait nuit|dans la rue|sans prevenir)\b"
        r"|\b(?:parti|partie|disparu|disparue|sorti|sortie|fugue|introuvable|erre)\b.{0,80}"
        r"\bdesorient\w*\b",
        acute=False,
    ),
    _cue(
        "va tomber",
        "danger",
        r"\b(?:marche|assis|debout|penche|penchee|grimpe|grimpee) (?:sur|au bord de|au bord "
        r"du) (?:le |la |l )?(?:rebord|bord du toit|toit|parapet|balcon|garde corps|corniche)"
        r"\b|\bsuspendu\w* (?:au|a la|dans le vide|a un|au dessus du vide)\b"
        r"|\benjambe\w* (?:le|la) (?:parapet|balcon|garde corps|rambarde)\b"
        r"|\b(?:il|elle|{PERSON}) va tomber\b|\bmarche au milieu de la (?:rocade|route|"
        r"nationale|autoroute|voie|chaussee|departementale)\b|\bsur la voie ferree\b"
        r"|\b(?:il|elle|je|on|nous|ils|elles) va mourir\b|\b(?:on|je) va(?:is)? mourir\b"
        r"(?! (?:d ennui|de faim|de rire|de chaud|de froid|de honte)\b)"
        r"|\berre\w* (?:seul|seule|seuls|seules|tout seul|toute seule)\b",
        acute=True,
    ),
    # ---- a child in danger ------------------------------------------------------------
    _cue(
        "enfant battu",
        "child",
        r"\b(?:frappe|frappent|frapper|bat|battent|battre|tape|tapent|taper|secoue|secouent|"
        r"secouer|maltraite|maltraitent|maltraiter|tabasse|tabassent|cogne|cognent|gifle|"
        r"giflent|brutalise|brutalisent|enferme|enferment|affame|affament) (?:son|sa|ses|"
        r"leur|leurs|un|une|l|les|le|la|cet|cette|ce|mon|ma|mes|notre|nos) {CHILD}\b"
        r"|\b{CHILD} (?:est |sont |se fait |se font )?(?:battu|battue|battus|battues|"
        r"maltraite|maltraitee|maltraites|frappe|frappee|frappes|secoue|secouee|brutalise\w*|"
        r"tabasse\w*|abuse|abusee|violente|violentee|enferme|enfermee|enfermes|attache|"
        r"attachee)\b|\bmaltrait\w*\b|\ba des bleus partout\b|\bcoups? de ceinture\b"
        r"|\b{CHILD} (?:hurle|hurler|hurlent|crie|crier|crient|pleure|pleurer|pleurent)\b"
        r"(?: [a-z]+){0,8} (?:coups|frappe|frapper|seul|seule|seuls|depuis des heures)\b"
        r"|\battouchements?\b|\babus sexuels?\b|\babuse sexuellement\b|\binceste\b",
        acute=True,
        not_before=r"\b(?:prevention|formation|conference|atelier|contre la|sur la|"
        r"lutte contre la|signaler une?|qu est ce que la)(?: [a-z]+){0,1}",
    ),
    _cue(
        "enfant seul",
        "child",
        r"\b{CHILD}\b(?: [a-z0-9]+){0,8} (?:seul|seule|seuls|seules|tout seul|toute seule|"
        r"tous seuls|enferme|enfermee|enfermes|oublie|oubliee|oublies|abandonne|abandonnee|"
        r"abandonnes|perdu|perdue|perdus)(?: [a-z]+){0,2} (?:dans (?:une|la|sa|leur|un) "
        r"(?:voiture|vehicule|camion)|sur (?:un|le|leur|son) (?:balcon|toit|rebord|parking|"
        r"quai|trottoir)|au bord|"
        r"sur le quai|depuis (?:hier|ce matin|cette nuit|des heures|deux|trois|quatre|"
        r"plusieurs|\d+)|au soleil|en plein soleil|dans la rue|sur la route|qui pleure|"
        r"pleure|pleurent|crie|hurle|dans (?:le|la|un|une) (?:magasin|supermarche|centre "
        r"commercial|gare|foret|bois))\b"
        r"|\b(?:n a|n ont|n avait) rien (?:a manger|mange|bu)\b"
        r"|\bpeur pour (?:l enfant|le bebe|les enfants|la petite|le petit|ma fille|mon fils|"
        r"ses enfants|leur enfant|leurs enfants|mes enfants|son fils|sa fille)\b",
        acute=True,
    ),
)

FAMILY_RE = _p(r"\b{FAMILY}\b")
CHILD_RE = _p(
    r"\b(?:mon|ma|mes|son|sa|ses|leur|leurs|notre|nos|l|le|la|les|un|une|cet|cette) {CHILD}\b"
)
# The writer is a child: "j'ai 13 ans".
MINOR = re.compile(r" (?:j ai (?:[4-9]|1[0-7]) ans|je suis (?:mineur|mineure))\b")
ANIMAL_SUBJECT = re.compile(
    r" (?:chat|chats|chien|chiens|chienne|chaton|chiot|cheval|animal|animaux|lapin|"
    r"hamster|perroquet|oiseau|poule|tortue|vache|mouton|chevre)\b(?: [a-z]+){0,3}$"
)
# Violence from a stranger, or in a public place, is not presumed domestic.
STRANGER = _p(
    r"\b(?:homme|hommes|type|types|mec|mecs|gars|individu|individus|inconnu|inconnus|jeunes|"
    r"bande|voisin|voisine|voisins|passant|client|rue|gare|train|bus|metro|tram|parking|"
    r"parc|bar|place|magasin|supermarche|ecole|college|lycee|boite|soiree|quai|arret)\b"
)
# Violence done to the writer by "il"/"elle" ("il m'a frappée", "il me bat"), without
# a stranger or a public place, is presumed from a partner or relative: 3919 with 17.
INTIMATE = re.compile(
    r"^ (?:me|m|nous) (?:a |ont )?(?:encore |deja )?(?:frapp|frap|tap|bat|battu|tabass|cogn|"
    r"etrangl|gifl|etouff|enferm|sequestr|pouss|brutalis|empeche)"
)
