;;;; Helpers the fixture's Lisp files share: (load (merge-pathnames
;;;; "common.lisp" *load-truename*)) first.

(in-package "CL-USER")

(defun test-arg (default)
  "The integer in SBCL_TEST_ARGS (set by sbcl/run_lisp.py), or DEFAULT."
  (let ((arg (sb-ext:posix-getenv "SBCL_TEST_ARGS")))
    (or (and arg (plusp (length arg)) (parse-integer arg :junk-allowed t)) default)))

(defstruct (counter (:constructor make-counter ())) (n 0))

(defun counter-bump (counter)
  "Adds 1 to COUNTER by compare-and-swap: for counting in interrupt
functions. 0.9.4.1's SIG_INTERRUPT_THREAD handler runs the next queued
function inside the one running, which an INCF of a special then undoes
when it stores what it read before (the outer INCF of a thread preempted
between the two while 40 more interrupts were queued ran them all and
left the count 40 short: interrupt-cons-gc.lisp reported them lost).
Slot 1 is N (slot 0: the layout); conses nothing."
  (loop for old = (counter-n counter)
        until (eql (sb-vm::%instance-set-conditional counter 1 old (1+ old)) old)))

(defun wait-until-dead (thread)
  (loop while (sb-thread:thread-alive-p thread)
        do (sleep 0.0002)))

(defun map-count ()
  "Lines of /proc/self/maps: the process's map entries."
  (with-open-file (s "/proc/self/maps")
    (loop for line = (read-line s nil) while line count t)))

(defun foreign-function (name)
  "The address of foreign symbol NAME, or NIL."
  (let ((addr (sb-sys:find-dynamic-foreign-symbol-address name)))
    (and addr (not (zerop addr)) addr)))

(defparameter *sbthread-stats-fields*
  '(:threads-created :threads-reaped :threads-live :blocks-cached :block-cache-limit :stops
    :interrupts-sent :interrupts-run :queue-full-retries :queue-full-worst-wait-ns
    :stop-latency-min-ns :stop-latency-mean-ns :stop-latency-max-ns :conses-live :stop-wait-ns
    :stop-signals-by-stopper :stop-signals-by-helpers :interrupts-discarded :stop-backoffs
    :stop-adoptions :stop-counted-in-regions :region-leaves-waited :resume-signals :resume-wakes
    :stale-stop-signals :mutex-rewakes :gc-triggers-held
    :mutexes-given-back :resumes-taken-back :blocks-cached-cold
    :cold-block-cache-limit)
  "The words of libsbthread's struct sbthread_stats, in the header's order
(sbcl/run_tests.py checks this list against include/sbthread.h before it
runs a file).")

(defun sbthread-stat-words (&rest names)
  "The words NAMES (keywords of *SBTHREAD-STATS-FIELDS*) of libsbthread's
struct sbthread_stats, or NIL when the library in use is not ours."
  (let ((stats (foreign-function "sbthread_stats")))
    (when stats
      (let ((buf (sb-alien:make-alien (sb-alien:unsigned 64) 64)))
        (unwind-protect
             (progn
               (sb-alien:alien-funcall
                (sb-alien:sap-alien (sb-sys:int-sap stats)
                                    (function sb-alien:int (* (sb-alien:unsigned 64))))
                buf)
               (mapcar (lambda (name)
                         (sb-alien:deref buf (or (position name *sbthread-stats-fields*)
                                                 (error "no field ~S in struct sbthread_stats" name))))
                       names))
          (sb-alien:free-alien buf))))))

(defun run-counted-rounds (name rounds word what round)
  "Calls ROUND ROUNDS times and prints how much field WORD of libsbthread's
struct sbthread_stats (WHAT; WORD may be a list of fields, summed) grew
meanwhile. With libsbthread, exits 1 when it grew in fewer than half the
rounds: the test's sleeps only order its threads, so a round may miss its
window, but not most of them."
  (let* ((words (if (listp word) word (list word)))
         (before (apply #'sbthread-stat-words words)))
    (dotimes (i rounds)
      (funcall round))
    (let ((counted (and before (- (reduce #'+ (apply #'sbthread-stat-words words)) (reduce #'+ before)))))
      (format t "~&~A: ~D rounds, each collection completed; ~A: ~A~%"
              name rounds what (or counted "(not libsbthread)"))
      (when (and counted (< (* 2 counted) rounds))
        (format t "~&~A: FAIL: ~A fewer than half the rounds: the test missed its window~%" name what)
        (sb-ext:quit :unix-status 1)))))

;;;; Lisp mutexes seen from outside, and waiting with a deadline (the
;;;; deterministic tests of the library's measures: lost-wake.lisp,
;;;; abandoned-mutex.lisp). A file sets *TEST-NAME* for the messages.

(defvar *test-name* "test")

(defun mutex-word (mutex)
  "The address of MUTEX's value slot: the futex word its waiters sleep on."
  (+ (sb-kernel:get-lisp-obj-address mutex) (- (* 3 8) 1)))

(defun futex-sleepers (word)
  "How many of this process's tasks are blocked in a futex system call
on WORD (/proc/self/task/TID/syscall: number 202, first argument WORD)."
  (let ((n 0))
    (dolist (dir (directory "/proc/self/task/*/") n)
      (let ((line (ignore-errors
                   (with-open-file (s (merge-pathnames "syscall" dir))
                     (read-line s nil)))))
        (when (and line (> (length line) 6) (string= "202 0x" line :end2 6))
          (let ((addr (parse-integer line :start 6 :radix 16 :junk-allowed t)))
            (when (eql addr word)
              (incf n))))))))

(defun wait-for (what seconds predicate)
  "Polls PREDICATE every millisecond for SECONDS; true if it held."
  (let ((deadline (+ (get-internal-real-time) (* seconds internal-time-units-per-second))))
    (loop (when (funcall predicate) (return t))
          (when (> (get-internal-real-time) deadline)
            (format t "~&~A: timed out waiting for ~A~%" *test-name* what)
            (return nil))
          (sleep 0.001))))

(defun must (what seconds predicate)
  "WAIT-FOR, and exit 1 if PREDICATE did not hold in time."
  (unless (wait-for what seconds predicate)
    (format t "~&~A: FAIL: ~A~%" *test-name* what)
    (finish-output)
    (sb-ext:quit :unix-status 1 :recklessly-p t)))

(defun stat (name)
  "Field NAME of libsbthread's struct sbthread_stats, or NIL (upstream)."
  (first (sbthread-stat-words name)))

;;;; The stress family (sbcl/lisp/stress-*.lisp): shared pieces. Each
;;;; stress runs rounds until its deadline (SBCL_TEST_ARGS seconds), counts
;;;; what it did in a property list of counters and ends with
;;;; STRESS-FINISH: exit 104 when no thread had an error, 1 otherwise. A
;;;; hang or a fatal error of the runtime is the runner's to see
;;;; (sbcl/run_lisp.py prints every thread's backtrace and signal masks).

(defvar *stress-errors* 0)

(defun stress-error (where e)
  "Counts and prints an error caught in WHERE. The line's words are what
sbcl/soak.py looks for."
  (incf *stress-errors*)
  (format t "~&stress: error in ~A: ~A~%" where e)
  (force-output))

(defun print-backtrace (condition)
  "The backtrace where CONDITION is signalled, before the stack unwinds.
With STRESS_ABORT_ON_FAULT=1 in the environment, a memory fault aborts
the process instead (a core file to read the faulting frame from)."
  (when (and (typep condition 'sb-kernel::memory-fault-error)
             (equal (sb-ext:posix-getenv "STRESS_ABORT_ON_FAULT") "1"))
    ;; The runtime handles SIGABRT (as SIGIOT): the default action first.
    (sb-alien:alien-funcall (sb-alien:extern-alien "signal" (function sb-alien:unsigned-long sb-alien:int
                                                                      sb-alien:unsigned-long))
                            6 0)
    (sb-alien:alien-funcall (sb-alien:extern-alien "abort" (function sb-alien:void))))
  (format t "~&stress: backtrace of ~A in ~A:~%" condition sb-thread:*current-thread*)
  (sb-debug:backtrace 40 *standard-output*)
  (force-output))

(defmacro with-stress-errors ((where) &body body)
  "BODY; an error in it is counted, with its backtrace, and ends BODY."
  `(handler-case (handler-bind ((error #'print-backtrace)) ,@body)
     (error (e) (stress-error ,where e))))

(defmacro stress-lambda ((where) &body body)
  "A thread function: its own random state; an error anywhere in BODY, in
an interrupt function it runs or in its unwinding, is counted (with its
backtrace), not fatal."
  `(lambda ()
     (let ((*random-state* (make-random-state t)))
       (with-stress-errors (,where) ,@body))))

(defun stress-deadline (seconds)
  (+ (get-internal-real-time) (round (* seconds internal-time-units-per-second))))

(defun stress-time-left-p (deadline)
  (< (get-internal-real-time) deadline))

(defun cons-strings (n &optional (length 8))
  "Makes N short fresh strings and checks them: a collection that lost or
moved one under a thread shows as an error, not only as a crash."
  (let ((strings (loop for i below n
                       collect (make-string length :initial-element (code-char (+ 65 (mod i 26)))))))
    (loop for s in strings
          for i from 0
          unless (and (= (length s) length)
                      (char= (char s (1- length)) (code-char (+ 65 (mod i 26)))))
            do (error "string ~D of ~D corrupted: ~S" i n s))
    (length strings)))

(defun try-interrupt (thread function counts)
  "INTERRUPT-THREAD; counts :accepted or :refused (the thread has finished:
INTERRUPT-THREAD-ERROR) in the property list COUNTS. True if accepted."
  (handler-case (progn (sb-thread:interrupt-thread thread function)
                       (incf (getf (car counts) :accepted 0))
                       t)
    (sb-thread:interrupt-thread-error ()
      (incf (getf (car counts) :refused 0))
      nil)))

(defun wait-polling (thread &optional (seconds 0.001))
  "Waits for THREAD to end by polling THREAD-ALIVE-P with SECONDS sleeps."
  (loop while (sb-thread:thread-alive-p thread)
        do (sleep seconds)))

(defun stress-finish (name start counts)
  "Prints the figures (one line the soak parses: `stress NAME: K V ...`)
and libsbthread's rescues (mutex_rewakes: `rewakes`, mutexes_given_back:
`given-back`), then exits: 104 if no error was counted."
  (let ((words (sbthread-stat-words :stop-backoffs :stop-adoptions :interrupts-discarded :mutex-rewakes
                                    :mutexes-given-back)))
    (format t "~&stress ~A: seconds ~,1F~{ ~(~A~) ~D~}~@[ backoffs ~D~]~@[ adoptions ~D~]~@[ dropped ~D~]~@[ rewakes ~D~]~@[ given-back ~D~] errors ~D~%"
            name (/ (- (get-internal-real-time) start) (float internal-time-units-per-second))
            counts (first words) (second words) (third words) (fourth words) (fifth words) *stress-errors*))
  (finish-output)
  (sb-ext:quit :unix-status (if (zerop *stress-errors*) 104 1)))
