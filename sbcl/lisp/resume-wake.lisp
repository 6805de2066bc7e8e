;;;; Starting the world without a signal per thread (the measure
;;;; RESUME_WAKE, src/host/resume.rs). 0.9.4.1's stop handler waits for its
;;;; resume in sigwaitinfo and takes the next SIG_STOP_FOR_GC for it
;;;; (interrupt.c:695-700); with libsbthread that wait is the library's,
;;;; which waits for its thread to be RUNNING again (one futex wake per
;;;; start for every thread). 4 threads spin without consing and 4 sleep
;;;; in a loop while the main thread collects SBCL_TEST_ARGS times (default
;;;; 50), after one collection that every thread has waited through once
;;;; (a thread the stopper resumes before it was ever seen in the
;;;; library's wait gets its signal). With libsbthread (sbthread_stats
;;;; fields stops, resume_signals, resume_wakes): no resume
;;;; signal, and a wake for each of the 8 threads at each stop (the
;;;; default); with SBTHREAD_RESUME_WAKE=0, a signal for each and no wake
;;;; (sbcl/run_tests.py runs it both ways). Upstream's
;;;; library: the collections complete. Exits 104.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *gcs* (test-arg 50))
(defvar *stop* nil)
(defvar *spins* 0)

(defun check (ok what &rest args)
  (unless ok
    (format t "~&resume-wake: FAIL: ~?~%" what args)
    (sb-ext:quit :unix-status 1)))

(let* ((threads (append (loop repeat 4 collect (sb-thread:make-thread
                                                (lambda () (loop until *stop* do (incf *spins*)))))
                        (loop repeat 4 collect (sb-thread:make-thread
                                                (lambda () (loop until *stop* do (sleep 0.01)))))))
       (n (length threads))
       (signals-off (equal (sb-ext:posix-getenv "SBTHREAD_RESUME_WAKE") "0")))
  (sb-ext:gc)
  (let ((before (sbthread-stat-words :stops :resume-signals :resume-wakes)))
    (dotimes (i *gcs*)
      (sb-ext:gc))
    (let ((after (sbthread-stat-words :stops :resume-signals :resume-wakes)))
      (setf *stop* t)
      (loop while (some #'sb-thread:thread-alive-p threads) do (sleep 0.01))
      (if (null before)
          (format t "~&resume-wake: ~D collections with ~D threads (not libsbthread: counters not checked)~%"
                  *gcs* n)
          (destructuring-bind (stops signals wakes) (mapcar #'- after before)
            (format t "~&resume-wake: ~D collections, ~D stops of ~D threads: ~D resume signals, ~D wakes~A~%"
                    *gcs* stops n signals wakes (if signals-off " (SBTHREAD_RESUME_WAKE=0)" ""))
            (check (>= stops *gcs*) "~D stops for ~D collections" stops *gcs*)
            (if signals-off
                (check (and (= wakes 0) (>= signals (* n *gcs*))) "resumes by signal expected")
                (check (and (= signals 0) (>= wakes (* n *gcs*))) "resumes by wake expected")))))))
(sb-ext:quit :unix-status 104)
