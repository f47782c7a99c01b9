"""What a line typed in ``studyroom chat`` asks for: chat, a question, or a slash command."""

from __future__ import annotations

from dataclasses import dataclass

HELP = """\
  text              say something to the room
  ? question        ask the tutor (also /ask question)
  /stop             stop the tutor's answer in progress
  /answer N         answer the open quiz with choice N (a bare N works too)
  /review           pose again the quizzes that are due for review
  /who              who is in the room
  /help             this list
  /quit             leave (end of input leaves too)
  //text            say something that starts with /"""


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Ask:
    text: str


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Answer:
    choice: int  # as typed: 1 is the first choice


@dataclass(frozen=True)
class Review:
    pass


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Invalid:
    message: str


Command = Say | Ask | Stop | Answer | Review | Who | Help | Quit | Invalid


def _number(text: str) -> int | None:
    # str.isdigit also takes digits such as "²" that int() refuses.
    return int(text) if text.isascii() and text.isdigit() else None


def parse_line(line: str, quiz_open: bool = False) -> Command | None:
    """The command a typed line stands for; ``None`` for a blank line.

    A bare number answers the open quiz only while one is open; otherwise it is chat.
    """
    text = line.strip()
    if not text:
        return None
    if text.startswith("//"):
        return Say(text[1:])
    if text.startswith("?"):
        return _ask(text[1:].strip())
    if quiz_open and (choice := _number(text)) is not None:
        return Answer(choice)
    if not text.startswith("/"):
        return Say(text)
    name, _, rest = text[1:].partition(" ")
    rest = rest.strip()
    match name.lower():
        case "ask":
            return _ask(rest)
        case "stop" | "cancel":
            return Stop()
        case "answer" | "a":
            choice = _number(rest)
            if choice is None:
                return Invalid("/answer needs the number of a choice, e.g. /answer 2")
            return Answer(choice)
        case "review" | "r":
            return Review()
        case "who":
            return Who()
        case "help" | "h":
            return Help()
        case "quit" | "exit" | "q":
            return Quit()
        case _:
            return Invalid(f"unknown command /{name}: type /help for the list")


def _ask(question: str) -> Ask | Invalid:
    if not question:
        return Invalid("type the question after it, e.g. ? what is a monad")
    return Ask(question)
