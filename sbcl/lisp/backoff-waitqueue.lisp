;;;; A stop deferred by a thread asleep on a waitqueue that only a thread
;;;; the same stop suspends will notify. Exits 104 when it passes.
;;;;
;;;; A sleeper waits in CONDITION-WAIT inside WITHOUT-GCING (its stop is
;;;; deferred); a notifier computes for 50 ms, GC allowed, then notifies;
;;;; the main thread collects garbage meanwhile. The stop suspends the
;;;; notifier and then waits for the sleeper, which waits for the
;;;; notifier: upstream's thread library hangs on the first round. A
;;;; waitqueue is not a mutex with a holder, so libsbthread cannot count
;;;; the sleeper as stopped (src/host/adopt.rs); it backs off instead:
;;;; resumes the threads it has stopped until the sleeper has stopped, then
;;;; stops them again (src/host/stuck.rs).
;;;;
;;;; Passing: no hang (the runner's time limit), every collection
;;;; completed, and with libsbthread stops that backed off (stop_backoffs,
;;;; a field of struct sbthread_stats) in at least half the rounds: the
;;;; sleeps below only order the threads.
;;;;
;;;; SBCL_TEST_ARGS: the number of rounds (default 20).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *rounds* (test-arg 20))

(defun spin-for (seconds)
  (let ((end (+ (get-internal-real-time) (round (* seconds internal-time-units-per-second)))))
    (loop while (< (get-internal-real-time) end))))

(defun one-round ()
  (let* ((m (sb-thread:make-mutex :name "backoff"))
         (q (sb-thread:make-waitqueue :name "backoff"))
         (ready nil) (waiting nil)
         (sleeper (sb-thread:make-thread
                   (lambda ()
                     (sb-sys:without-gcing
                       (sb-thread:with-mutex (m)
                         (setf waiting t)
                         (loop until ready do (sb-thread:condition-wait q m)))))))
         (notifier (sb-thread:make-thread
                    (lambda ()
                      (loop until waiting do (sleep 0.0002))
                      (spin-for 0.05)
                      (sb-thread:with-mutex (m)
                        (setf ready t)
                        (sb-thread:condition-broadcast q))))))
    (loop until waiting do (sleep 0.0002))
    ;; Time for the sleeper to fall asleep in CONDITION-WAIT.
    (sleep 0.01)
    (sb-ext:gc)
    (wait-until-dead notifier)
    (wait-until-dead sleeper)))

(run-counted-rounds "backoff-waitqueue" *rounds* :stop-backoffs "stops that backed off" #'one-round)
(sb-ext:quit :unix-status 104)
