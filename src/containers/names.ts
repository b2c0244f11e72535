// Docker-style generated names ("adjective_surname"), as moby's pkg/namesgenerator makes them.

import { randomInt } from "node:crypto";

const LEFT = [
  "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful", "bold",
  "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending", "confident", "cool",
  "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated",
  "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
  "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful",
  "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing",
  "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty",
  "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
  "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic",
  "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
  "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
];

const RIGHT = [
  "agnesi", "albattani", "allen", "archimedes", "ardinghelli", "babbage", "banach", "bardeen", "bartik", "bell",
  "benz", "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta", "brattain", "brown",
  "carson", "cerf", "chandrasekhar", "chaplygin", "chatelet", "clarke", "cohen", "curie", "darwin", "davinci",
  "dijkstra", "dirac", "easley", "einstein", "elbakyan", "elion", "engelbart", "euclid", "euler", "faraday",
  "fermat", "fermi", "feynman", "franklin", "galileo", "gates", "gauss", "goldberg", "goodall", "gould",
  "hamilton", "hawking", "heisenberg", "hermann", "hodgkin", "hofstadter", "hopper", "hypatia", "jackson", "jang",
  "jemison", "jennings", "johnson", "kalam", "keller", "kepler", "khayyam", "knuth", "kowalevski", "lamarr",
  "lamport", "leakey", "leavitt", "lovelace", "lumiere", "mahavira", "margulis", "mayer", "mccarthy", "mcclintock",
  "meitner", "mendel", "merkle", "minsky", "mirzakhani", "morse", "napier", "newton", "nightingale", "nobel",
  "noether", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "ramanujan", "ritchie", "rosalind",
  "shannon", "shockley", "sinoussi", "stonebraker", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira",
  "villani", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
];

/** A random name; retry > 0 appends a digit, as moby does after a collision. */
export function generateName(retry = 0): string {
  for (;;) {
    const name = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
    if (name === "boring_wozniak") continue; // Steve Wozniak is not boring
    return retry > 0 ? `${name}${randomInt(10)}` : name;
  }
}

/** Docker's rule for user-given names: [a-zA-Z0-9][a-zA-Z0-9_.-]+, with an optional leading slash. */
export const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
