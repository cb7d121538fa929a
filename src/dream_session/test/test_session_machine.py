"""The session state machine: sequences, repeats, timeouts, the plotter queue, cancel."""
import pytest

from dream_session import session_machine as sm


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def machine(clock):
    ids = iter(f's{i}' for i in range(1, 100))
    return sm.SessionMachine(clock=clock, new_id=lambda: next(ids),
                             timeouts={sm.GENERATING: 100.0})


def kinds(effects):
    return [type(e).__name__ for e in effects]


def states(effects):
    return [sm.STATE_NAMES[e.session.state] for e in effects if isinstance(e, sm.PublishStatus)]


def run_to_generation(machine, text='a whale over the city'):
    effects = machine.on_speech_started() + machine.on_utterance()
    effects += machine.on_transcript(ok=True, text=text)
    return effects


def test_happy_path_visits_every_state_in_order(machine):
    effects = run_to_generation(machine)
    assert states(effects) == ['listening', 'transcribing', 'generating']
    start = [e for e in effects if isinstance(e, sm.StartGeneration)]
    assert start == [sm.StartGeneration('s1', 'a whale over the city')]
    effects = machine.on_generation_result('s1', ok=True, drawing='D')
    assert states(effects) == ['plotting']
    assert [e for e in effects if isinstance(e, sm.StartPlot)] == [sm.StartPlot('s1', 'D')]
    effects = machine.on_plot_result('s1', ok=True)
    assert states(effects) == ['done']
    assert machine.finished[0].session_id == 's1' and not machine.sessions


def test_rejected_speech_asks_once_then_fails(machine):
    machine.on_speech_started()
    machine.on_utterance()
    effects = machine.on_transcript(ok=False, text='', message='no speech')
    assert states(effects) == ['listening'] and 'AskRepeat' in kinds(effects)
    machine.on_utterance()
    effects = machine.on_transcript(ok=False, text='', message='no speech')
    assert states(effects) == ['failed']
    assert machine.finished[0].error_code == sm.ERROR_SPEECH_REJECTED
    assert machine.finished[0].message == 'speech rejected again: no speech'


def test_the_end_of_the_audio_fails_a_session_that_still_listens(machine):
    machine.on_speech_started()
    machine.on_utterance()
    machine.on_transcript(ok=False, text='', message='no speech')
    effects = machine.on_speech_ended('the audio file ended')
    assert states(effects) == ['failed'] and not machine.sessions
    assert machine.finished[-1].error_code == sm.ERROR_SPEECH_REJECTED
    assert machine.finished[-1].message == ('speech rejected: no speech; the audio file ended '
                                            'before a repeat was heard')
    machine.on_speech_started()                            # speech began, then the file ended
    assert states(machine.on_speech_ended('the audio file ended')) == ['failed']
    assert machine.finished[-1].error_code == sm.ERROR_AUDIO
    run_to_generation(machine)                             # past listening: not its business
    assert machine.on_speech_ended('the audio file ended') == []
    assert machine.on_speech_ended('again') == [] and len(machine.sessions) == 1


def test_a_refused_prompt_asks_for_another_dream_and_fails_without_again():
    machine = sm.SessionMachine(max_repeats=1, new_id=lambda: 's1')
    machine.on_speech_started()
    machine.on_utterance()
    effects = machine.on_transcript(ok=False, text='a city', refused=True,
                                    message='this installation does not draw "city"')
    asks = [e.message for e in effects if isinstance(e, sm.AskRepeat)]
    assert asks == ['Sorry, this installation does not draw "city". Please tell me another '
                    'dream.']
    once = sm.SessionMachine(max_repeats=0, new_id=lambda: 's2')
    once.on_speech_started()
    once.on_utterance()
    once.on_transcript(ok=False, text='a city', refused=True, message='no "city"')
    assert once.finished[0].message == 'speech rejected: no "city"'


def test_repeat_that_succeeds_continues_the_same_session(machine):
    machine.on_speech_started()
    machine.on_utterance()
    machine.on_transcript(ok=False, text='', message='noise')
    machine.on_utterance()
    effects = machine.on_transcript(ok=True, text='flying')
    assert [e.session_id for e in effects if isinstance(e, sm.StartGeneration)] == ['s1']


def test_partial_transcripts_are_ignored(machine):
    machine.on_speech_started()
    machine.on_utterance()
    assert machine.on_transcript(ok=True, text='a wh', is_final=False) == []
    assert machine.collecting.state == sm.TRANSCRIBING


def test_failed_generation_fails_the_session_not_the_machine(machine):
    run_to_generation(machine)
    effects = machine.on_generation_result('s1', ok=False, message='no weights')
    assert states(effects) == ['failed']
    assert machine.finished[0].error_code == sm.ERROR_GENERATION
    assert 'no weights' in machine.finished[0].message
    assert states(run_to_generation(machine)) == ['listening', 'transcribing', 'generating']


def test_timeout_cancels_the_stage_and_fails(machine, clock):
    run_to_generation(machine)
    clock.t += 99
    assert machine.on_tick() == []
    clock.t += 2
    effects = machine.on_tick()
    assert kinds(effects)[0] == 'CancelGeneration'
    assert states(effects) == ['failed']
    assert machine.finished[0].error_code == sm.ERROR_TIMEOUT


def test_next_visitor_is_generated_while_plotting_and_queued(machine):
    run_to_generation(machine, 'first')
    machine.on_generation_result('s1', ok=True, drawing='D1')
    assert machine.slots['plot'].owner == 's1'
    effects = run_to_generation(machine, 'second')          # speaks while s1 is plotted
    assert [e.session_id for e in effects if isinstance(e, sm.StartGeneration)] == ['s2']
    effects = machine.on_generation_result('s2', ok=True, drawing='D2')
    assert 'StartPlot' not in kinds(effects) and machine.slots['plot'].queue == ['s2']
    effects = run_to_generation(machine, 'third')
    # the plot queue (one) is full: s3 is not drawn now, to be thrown away when it is done
    assert 'StartGeneration' not in kinds(effects) and machine.slots['generate'].queue == ['s3']
    assert effects[-1].session.message == ('waiting for the drawing node (the drawings made '
                                           'wait for the plotter)')
    effects = machine.on_plot_result('s1', ok=True)
    assert states(effects) == ['done', 'plotting', 'generating']
    assert [e for e in effects if isinstance(e, sm.StartPlot)] == [sm.StartPlot('s2', 'D2')]
    assert starts(effects, 'StartGeneration') == ['s3']


def test_cancel_while_plotting_cancels_the_goal(machine):
    run_to_generation(machine)
    machine.on_generation_result('s1', ok=True, drawing='D')
    effects = machine.cancel('s1')
    assert kinds(effects)[0] == 'CancelPlot' and states(effects) == ['cancelled']
    assert machine.slots['plot'].owner == 's1'          # until the plotter answers the cancel
    assert machine.on_plot_result('s1', ok=False, cancelled=True) == []
    assert machine.slots['plot'].owner is None


def test_results_for_unknown_or_finished_sessions_are_ignored(machine):
    assert machine.on_generation_result('nope', ok=True) == []
    assert machine.on_plot_result('nope', ok=True) == []
    assert machine.on_transcript(ok=True, text='x') == []


def test_utterance_without_speech_event_opens_a_session(machine):
    effects = machine.on_utterance()
    assert states(effects) == ['listening', 'transcribing']


def test_utterance_naming_a_finished_session_opens_a_new_one(machine):
    run_to_generation(machine)
    machine.on_generation_result('s1', ok=True, drawing='D')
    machine.on_plot_result('s1', ok=True)
    effects = machine.on_utterance('s1')              # the VAD still had the old id
    assert states(effects) == ['listening', 'transcribing']
    assert effects[0].session.session_id == 's2'


def test_only_the_latest_finished_sessions_are_kept(clock):
    machine = sm.SessionMachine(clock=clock)
    for _ in range(sm.FINISHED_KEPT + 5):
        run_to_generation(machine)
        [live] = machine.sessions
        machine.on_generation_result(live, ok=False, message='no weights')
    assert len(machine.finished) == sm.FINISHED_KEPT
    assert not machine.sessions


def starts(effects, kind):
    return [e.session_id for e in effects if type(e).__name__ == kind]


def test_a_visitor_who_ends_while_a_drawing_is_made_waits_for_the_drawing_node(machine):
    """Once the second goal went out at once, the drawing node refused it as busy, and the
    visitor's session failed."""
    run_to_generation(machine, 'first')
    effects = run_to_generation(machine, 'second')
    assert starts(effects, 'StartGeneration') == []
    assert states(effects)[-1] == 'generating'
    assert effects[-1].session.message.startswith('waiting for the drawing node')
    assert machine.slots['generate'].queue == ['s2']
    effects = machine.on_generation_result('s1', ok=True, drawing='D1')
    assert starts(effects, 'StartPlot') == ['s1'] and starts(effects, 'StartGeneration') == ['s2']
    assert [e.session.message for e in effects if isinstance(e, sm.PublishStatus)] == [
        'plotting', 'generating']


def test_waiting_for_the_drawing_node_is_not_timed_and_its_queue_is_bounded(machine, clock):
    run_to_generation(machine, 'first')
    run_to_generation(machine, 'second')
    run_to_generation(machine, 'third')
    effects = run_to_generation(machine, 'fourth')         # two may wait (the default)
    assert states(effects)[-1] == 'failed'
    assert machine.finished[-1].message == 'the drawing node is busy and its queue is full'
    clock.t += 99
    machine.on_generation_result('s1', ok=False, message='no weights')    # s2 starts now
    clock.t += 99
    assert states(machine.on_tick()) == []       # s2's stage time counts from its start
    clock.t += 2
    assert starts(machine.on_tick(), 'CancelGeneration') == ['s2']


def test_a_cancelled_goal_holds_its_server_until_it_answers(machine, clock):
    """Once the next goal went out while the server still stopped the cancelled one: busy."""
    run_to_generation(machine, 'first')
    run_to_generation(machine, 'second')
    effects = machine.cancel('s1')
    assert starts(effects, 'CancelGeneration') == ['s1']
    assert starts(effects, 'StartGeneration') == [] and machine.slots['generate'].owner == 's1'
    effects = machine.on_generation_result('s1', ok=False, message='cancelled')
    assert starts(effects, 'StartGeneration') == ['s2']
    machine.on_generation_result('s2', ok=True, drawing='D2')
    run_to_generation(machine, 'third')
    machine.on_generation_result('s3', ok=True, drawing='D3')
    assert machine.slots['plot'].owner == 's2' and machine.slots['plot'].queue == ['s3']
    effects = machine.cancel('s2')
    assert starts(effects, 'CancelPlot') == ['s2'] and starts(effects, 'StartPlot') == []
    clock.t += machine.release_wait - 1
    assert starts(machine.on_tick(), 'StartPlot') == []
    clock.t += 1                                 # it never answered: the plotter is free
    assert starts(machine.on_tick(), 'StartPlot') == ['s3']


def test_a_goal_withdrawn_before_it_was_answered_frees_its_server(machine):
    run_to_generation(machine, 'first')
    run_to_generation(machine, 'second')
    machine.cancel('s1')
    assert machine.on_goal_withdrawn('plot', 's1') == []
    assert starts(machine.on_goal_withdrawn('generate', 's1'), 'StartGeneration') == ['s2']


def test_a_busy_server_is_asked_again(machine, clock):
    """Another client used the drawing node (or the plotter): the session waits, not fails."""
    run_to_generation(machine)
    effects = machine.on_generation_result('s1', ok=False, busy=True, message='one at a time')
    assert states(effects) == ['generating'] and not machine.finished
    assert 'busy' in effects[0].session.message
    assert starts(machine.on_tick(), 'StartGeneration') == []
    clock.t += sm.BUSY_RETRY
    assert starts(machine.on_tick(), 'StartGeneration') == ['s1']
    machine.on_generation_result('s1', ok=True, drawing='D')
    effects = machine.on_plot_result('s1', ok=False, busy=True, message='in use')
    assert states(effects) == ['plotting'] and not machine.finished
    clock.t += sm.BUSY_RETRY
    assert starts(machine.on_tick(), 'StartPlot') == ['s1']
    assert states(machine.on_plot_result('s1', ok=True)) == ['done']


def test_a_dream_told_in_two_breaths_is_one_prompt(machine):
    """A pause longer than the VAD's silence while the first part is transcribed: once the
    second part was dropped unheard."""
    machine.on_speech_started()
    machine.on_utterance('s1')
    assert machine.on_utterance('s1') == []                # the visitor goes on
    assert machine.on_transcript(ok=True, text='a red whale', session_id='s1') == []
    effects = machine.on_transcript(ok=True, text='flying over the city', session_id='s1')
    assert [e.prompt for e in effects if isinstance(e, sm.StartGeneration)] == [
        'a red whale flying over the city']


def test_a_rejected_breath_does_not_lose_the_understood_one(machine):
    machine.on_speech_started()
    machine.on_utterance()
    machine.on_utterance()
    machine.on_transcript(ok=True, text='a whale')
    effects = machine.on_transcript(ok=False, text='', message='no speech')
    assert starts(effects, 'StartGeneration') == ['s1']
    machine.on_generation_result('s1', ok=False, message='x')
    machine.on_speech_started()
    machine.on_utterance()
    machine.on_utterance()
    machine.on_transcript(ok=False, text='', message='noise')
    effects = machine.on_transcript(ok=False, text='', message='no speech')
    assert kinds(effects) == ['PublishStatus', 'AskRepeat'] and 'no speech' in \
        effects[0].session.message


def test_speech_that_begins_while_a_dream_is_transcribed_is_a_new_dream(machine):
    """Its visitor was silent longer than the VAD's silence wait. Once it was taken for the
    transcribed session: its utterance came unnamed and was filed in that session's bag."""
    machine.on_speech_started()
    machine.on_utterance()
    effects = machine.on_speech_started()                  # s1 is being transcribed
    assert states(effects) == ['listening'] and effects[0].session.session_id == 's2'
    assert machine.on_speech_started() == []               # s2 already listens
    machine.on_transcript(ok=True, text='first', session_id='s1')
    effects = machine.on_utterance('s2')
    assert states(effects) == ['transcribing']
    effects = machine.on_transcript(ok=True, text='second', session_id='s2')
    assert [e.session.session_id for e in effects if isinstance(e, sm.PublishStatus)] == ['s2']


def test_a_transcript_before_its_utterance_is_kept_for_it(machine):
    """Early recognition answers within milliseconds of the utterance, on another topic: once,
    a transcript that overtook its utterance was dropped and the session timed out
    transcribing."""
    sid = machine.on_speech_started()[0].session.session_id
    assert machine.on_transcript(ok=True, text='stale', session_id='long-gone') == []
    assert machine.on_transcript(ok=True, text='a whale at night', session_id=sid) == []
    assert machine.sessions[sid].state == sm.LISTENING
    effects = machine.on_utterance(sid)
    assert states(effects) == ['transcribing', 'generating']
    assert machine.sessions[sid].prompt == 'a whale at night'
