"""Generated container names, docker style: adjective_surname."""

from __future__ import annotations

import os

_LEFT = (
    "admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold boring "
    "brave busy charming clever compassionate competent condescending confident cool cranky crazy "
    "dazzling determined distracted dreamy eager ecstatic elastic elated elegant eloquent epic "
    "exciting fervent festive flamboyant focused friendly frosty funny gallant gifted goofy "
    "gracious great happy hardcore heuristic hopeful hungry infallible inspiring intelligent "
    "interesting jolly jovial keen kind laughing loving lucid magical modest musing mystifying "
    "naughty nervous nice nifty nostalgic objective optimistic peaceful pedantic pensive practical "
    "priceless quirky quizzical recursing relaxed reverent romantic sad serene sharp silly "
    "sleepy stoic strange stupefied suspicious sweet tender thirsty trusting unruffled upbeat "
    "vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous zen"
).split()

# Scientists and engineers, as docker's generator honours them.
_RIGHT = (
    "agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach "
    "bardeen bartik bassi bell benz bhabha bhaskara blackwell bohr booth borg bose boyd brahmagupta "
    "brattain brown carson cerf chandrasekhar chaplygin chatelet chatterjee cohen curie darwin "
    "davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison einstein elion "
    "engelbart euclid euler faraday feistel fermat fermi feynman franklin gagarin galileo gates "
    "gauss germain goldberg goldstine goldwasser golick goodall gould greider grothendieck haibt "
    "hamilton hawking heisenberg hermann herschel hertz hodgkin hofstadter hoover hopper hugle "
    "hypatia jackson jang jemison jennings jepsen johnson joliot jones kalam kapitsa kare keldysh "
    "keller kepler khorana kilby kirch knuth kowalevski lalande lamarr lamport leakey leavitt "
    "lederberg lehmann lewin lichterman liskov lovelace lumiere mahavira margulis matsumoto maxwell "
    "mayer mccarthy mcclintock mclaren mclean mcnulty meitner mendel mendeleev meninsky merkle "
    "mestorf mirzakhani montalcini moore morse moser murdock napier nash neumann newton nightingale "
    "nobel noether northcutt noyce panini pare pascal pasteur payne perlman pike poincare poitras "
    "proskuriakova ptolemy raman ramanujan rhodes ride ritchie robinson roentgen rosalind rubin "
    "saha sammet sanderson satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder "
    "solomon spence stonebraker sutherland swanson swartz swirles taussig tesla tharp thompson "
    "torvalds tu turing varahamihira vaughan villani visvesvaraya volhard wescoff wilbur wiles "
    "williams williamson wilson wing wozniak wright wu yalow yonath zhukovsky"
).split()


def generate(attempt: int = 0) -> str:
    r = int.from_bytes(os.urandom(4), "little")
    name = f"{_LEFT[r % len(_LEFT)]}_{_RIGHT[(r // len(_LEFT)) % len(_RIGHT)]}"
    if name == "boring_wozniak":  # Steve Wozniak is not boring (docker's rule)
        return generate(attempt)
    if attempt:
        name += str(int.from_bytes(os.urandom(1), "little") % 10)
    return name


def valid(name: str) -> bool:
    """docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+"""
    if len(name) < 2 or not name[0].isascii() or not name[0].isalnum():
        return False
    return all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)
