;;;; A stop that a dying thread defers, while it sleeps on a Lisp mutex
;;;; held by a thread the same stop suspends. Exits 104 when it passes.
;;;;
;;;; 0.9.4.1's thread exit code (HANDLE-THREAD-EXIT) takes
;;;; *ALL-THREADS-LOCK* with *GC-INHIBIT* bound and the blockable signals
;;;; blocked, and MAKE-THREAD takes the same lock with GC allowed. Here a
;;;; holder keeps that lock for 50 ms of computation, a thread ends
;;;; meanwhile (it waits for the lock in its exit code, its stop deferred),
;;;; and the main thread collects garbage. With nothing done about it,
;;;; the stop suspends the holder and then waits forever for the sleeping
;;;; thread, which waits for the holder: upstream's thread library hangs
;;;; on the first round. libsbthread's stopper sees the sleeper and, once
;;;; every other thread is stopped, counts it as stopped: it waits for a
;;;; Lisp mutex whose holder is suspended (src/host/adopt.rs). (Before
;;;; that, it backed off: resumed the threads it had stopped until the
;;;; sleeper had passed; sbcl/lisp/backoff-waitqueue.lisp keeps a sleeper
;;;; that only the back-off resolves.)
;;;;
;;;; Passing: no hang (the runner's time limit), no error, every round's
;;;; collection completed, and, with libsbthread, stops that backed off or
;;;; adopted the sleeper (stop_backoffs and stop_adoptions, fields of
;;;; struct sbthread_stats) in at least half of the rounds: the
;;;; sleeps below only order the threads, so a round may miss the window,
;;;; but not most of them.
;;;;
;;;; SBCL_TEST_ARGS: the number of rounds (default 30).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *rounds* (test-arg 30))

(defun spin-for (seconds)
  (let ((end (+ (get-internal-real-time) (round (* seconds internal-time-units-per-second)))))
    (loop while (< (get-internal-real-time) end))))

(defun one-round ()
  (let* ((go nil)
         (held nil)
         (dying (sb-thread:make-thread (lambda () (loop until go do (sleep 0.0002)) nil)))
         (holder (sb-thread:make-thread
                  (lambda ()
                    (sb-thread:with-mutex (sb-thread::*all-threads-lock*)
                      (setf held t)
                      (spin-for 0.05))))))
    (loop until held do (sleep 0.0002))
    (setf go t)
    ;; Time for the dying thread to reach its exit code and the lock.
    (sleep 0.01)
    (sb-ext:gc)
    (wait-until-dead holder)
    (wait-until-dead dying)))

(run-counted-rounds "exit-lock" *rounds* '(:stop-backoffs :stop-adoptions) "stops that backed off or adopted the sleeper" #'one-round)
(sb-ext:quit :unix-status 104)
